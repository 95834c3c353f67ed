"""Typed facade over the native module `pllm_accel._native` (the Rust hot path).

The native side owns work every request touches: the upstream HTTP exchange on a Tokio
runtime, SSE framing, deployment routing and per-principal rate limits (:class:`Limiter`).
Results cross as small frozen classes (:class:`StreamBatch`, :class:`SseEvent`,
:class:`Refusal`, ...) and exceptions with named attributes (``UpstreamTimeoutError.phase``,
``NoDeploymentAvailable.reason`` and ``.retry_after``), never as bare tuples.
Results reach asyncio through one wake-up file descriptor per event loop, which
:func:`open_client` registers with the loop.
"""

from __future__ import annotations

import asyncio

from pllm_accel import _native
from pllm_accel._native import *  # noqa: F403 - the native classes, as the stub lists them
from pllm_accel._native import HttpClient

__all__ = ["close_client", "open_client"]
__all__ += _native.__all__


def open_client(
    loop: asyncio.AbstractEventLoop,
    *,
    pool_idle_timeout: float = 90.0,
    worker_threads: int = 1,
) -> HttpClient:
    """Creates a client bound to ``loop`` and registers its wake-up descriptor with it."""
    client = HttpClient(
        loop,
        pool_idle_timeout=pool_idle_timeout,
        worker_threads=worker_threads,
    )
    loop.add_reader(client.wake_fd(), client.drain)
    return client


def close_client(loop: asyncio.AbstractEventLoop, client: HttpClient) -> None:
    loop.remove_reader(client.wake_fd())
    client.close()
