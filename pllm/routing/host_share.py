"""Deployment ejections and 429 cool-downs shared by the workers of one host.

Each worker's router learns from its own attempts only. Every ``INTERVAL`` a worker writes
the ejections and cool-downs it made itself (still running) to its own file in the shared
directory, and applies those in the other workers' files it has not applied yet, so that a
deployment one worker ejected is held back by all within about ``INTERVAL`` (100 ms at
most). Reading a file only when its modification time moved keeps an idle tick to one
``stat`` per worker; nothing of this runs on a request's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from pllm.routing.engine import RoutingEngine

log = logging.getLogger("pllm.routing.host_share")

INTERVAL = 0.05  # seconds
Event = tuple[str, str, float]  # (kind, deployment id, until: seconds since the epoch)


class HostShare:
    """One worker's side of the exchange through ``directory`` (see the module doc)."""

    def __init__(self, directory: str, index: int) -> None:
        self.directory = Path(directory)
        self.own = self.directory / f"health-{index}.json"
        self.mine: list[Event] = []
        self.seen: dict[Path, int] = {}  # file -> mtime_ns applied
        self.applied: set[Event] = set()

    def tick(self, engine: RoutingEngine) -> None:
        now = time.time()
        fresh = engine.take_events("workers")
        if fresh or any(until <= now for _, _, until in self.mine):
            self.mine = [e for e in self.mine if e[2] > now] + fresh
            partial = self.own.with_suffix(".tmp")
            partial.write_bytes(msgspec.json.encode(self.mine))
            partial.replace(self.own)
        for path in self.directory.glob("health-*.json"):
            if path == self.own:
                continue
            try:
                mtime = path.stat().st_mtime_ns
                if self.seen.get(path) == mtime:
                    continue
                events = msgspec.json.decode(path.read_bytes(), type=list[Event])
            except (OSError, msgspec.DecodeError):
                continue  # a worker between writes, or gone: read on the next tick
            self.seen[path] = mtime
            for event in events:
                if event not in self.applied and event[2] > now:
                    self.applied.add(event)
                    engine.hold(*event)
        self.applied = {e for e in self.applied if e[2] > now}

    async def run(self, engine: Callable[[], RoutingEngine]) -> None:
        """Ticks until cancelled; ``engine`` gives the current one (a reload swaps it)."""
        while True:
            try:
                self.tick(engine())
            except OSError as e:
                log.error(f"cannot share deployment health with the other workers: {e}")
            await asyncio.sleep(INTERVAL)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.own.unlink()
