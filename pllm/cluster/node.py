"""One instance's membership of the cluster: the link, presence, limiter and bus together,
and the background tasks that keep them current (nothing here runs on a request's path).

:class:`Node` is built by :meth:`pllm.state.AppState.build` only when a Redis is configured;
``start`` and ``stop`` follow the state's. One task heartbeats (every second), publishes the
router's events and applies others' (every ``_TICK``); two more refill the limiter's and the
budgets' leases as they ask. All keep going through an outage, retrying with backoff, so an
instance reconnects and re-syncs on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from pllm.cluster.budgets import BudgetLeases, RedisLeases
from pllm.cluster.bus import CHANNEL, Bus
from pllm.cluster.limiter import ClusterLimiter
from pllm.cluster.link import Link
from pllm.cluster.presence import Presence
from pllm.config.schema import RedisSettings
from pllm.revision import revision_of

log = logging.getLogger("pllm.cluster")

_TICK = 0.1
_BEAT = 1.0


def _sighup_self() -> None:
    # The server's own SIGHUP handler reloads every gateway of this process
    # (pllm.reload.reload_all), which this layer cannot import.
    os.kill(os.getpid(), signal.SIGHUP)


class Node:
    def __init__(
        self,
        settings: RedisSettings,
        config_file: str,
        *,
        reload: Callable[[], None] = _sighup_self,
        instance: str | None = None,
    ) -> None:
        self.link = Link(settings, instance)
        self.presence = Presence(self.link)
        self.limiter = ClusterLimiter(self.link, lambda: self.presence.seen)
        self.budgets = BudgetLeases(RedisLeases(self.link), lambda: self.presence.seen)
        self.bus = Bus(self.link, self._remote_reload)
        self.config_file = config_file
        self.revision = revision_of(config_file)
        self._reload = reload
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def status(self) -> str:
        return self.link.status()

    def attach(self, engine: Any) -> None:
        """The routing engine now serving: its events go out, others' are applied to it, and
        it limits deployments with the cluster limiter."""
        engine.deployment_limiter = self.limiter
        self.bus.engine = engine

    def reloaded(self, engine: Any, config_file: str) -> None:
        """A reload succeeded here (possibly on a thread): attach its engine and tell the
        other instances."""
        self.attach(engine)
        self.config_file = config_file
        self.revision = revision_of(config_file)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.bus.announce_reload)

    def _remote_reload(self) -> None:
        if revision_of(self.config_file) == self.revision:
            return  # nothing changed here: also where an announcement's echo stops
        log.info("another instance reloaded its config: reloading this one's")
        self._reload()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            self._loop.create_task(self._run()),
            self._loop.create_task(self.limiter.refill()),
            self._loop.create_task(self.budgets.refill()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.link.up:
            with contextlib.suppress(Exception):
                await self.presence.leave()
        with contextlib.suppress(Exception):
            await self.link.close()

    async def _run(self) -> None:
        pubsub: Any = None
        beat_at = 0.0
        while True:
            try:
                if pubsub is None:
                    pubsub = self.link.client.pubsub()
                    await pubsub.subscribe(CHANNEL)
                if time.monotonic() >= beat_at:
                    await self.presence.beat()
                    beat_at = time.monotonic() + _BEAT
                await self.bus.publish()
                await self.bus.drain(pubsub)
                self.link.ok()
                await asyncio.sleep(_TICK)
            except asyncio.CancelledError:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                raise
            except Exception as e:
                self.link.failed(e)
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                    pubsub = None
                beat_at = 0.0
                await asyncio.sleep(self.link.retry_in())
