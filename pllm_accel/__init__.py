"""Typed facade over the native module `pllm_accel._native` (the Rust hot path).

The native side owns work every request touches: the upstream HTTP exchange on a Tokio
runtime, SSE framing, deployment routing and per-principal rate limits (:class:`Limiter`).
Results reach asyncio through one wake-up file descriptor per event loop, which
:func:`open_client` registers with the loop.
"""

from __future__ import annotations

import asyncio

from pllm_accel._native import (
    CancelOnDone,
    HttpClient,
    InvalidUpstreamRequest,
    Limiter,
    NoDeploymentAvailable,
    Router,
    SseParser,
    Target,
    UpstreamBodyTooLarge,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamResponse,
    UpstreamTimeoutError,
    __version__,
)

__all__ = [
    "CancelOnDone",
    "HttpClient",
    "InvalidUpstreamRequest",
    "Limiter",
    "NoDeploymentAvailable",
    "Router",
    "SseParser",
    "Target",
    "UpstreamBodyTooLarge",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamResponse",
    "UpstreamTimeoutError",
    "__version__",
    "close_client",
    "no_pick_details",
    "open_client",
    "timeout_phase",
]


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


def no_pick_details(err: NoDeploymentAvailable) -> tuple[str, float]:
    """(reason, retry_after_seconds) of a failed ``Router.pick``."""
    return str(err.args[1]), float(err.args[2])


def timeout_phase(err: UpstreamTimeoutError) -> str:
    """Which wait ran out: 'connect', 'first_byte' or 'between_chunks'."""
    phase = err.args[1] if len(err.args) > 1 else "first_byte"
    return str(phase)
