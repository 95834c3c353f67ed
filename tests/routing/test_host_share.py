"""Ejections exchanged between the workers of a host through their shared directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pllm.routing.host_share import HostShare


class FakeEngine:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []
        self.held: list[tuple[str, str, float]] = []

    def take_events(self, consumer: str = "") -> list[tuple[str, str, float]]:
        out, self.events = self.events, []
        return out

    def hold(self, kind: str, deployment_id: str, until: float) -> None:
        self.held.append((kind, deployment_id, until))


def test_an_ejection_in_one_worker_is_held_by_the_others_once(tmp_path: Path) -> None:
    a, b, c = (HostShare(str(tmp_path), i) for i in range(3))
    ea, eb, ec = FakeEngine(), FakeEngine(), FakeEngine()
    until = time.time() + 30
    ea.events.append(("ejected", "g/0", until))
    engines: Any = (ea, eb, ec)
    for share, engine in zip((a, b, c), engines, strict=True):
        share.tick(engine)
    assert eb.held == [("ejected", "g/0", until)] and ec.held == eb.held
    assert ea.held == [], "a worker does not hold its own event"
    for share, engine in zip((a, b, c), engines, strict=True):
        share.tick(engine)
    assert len(eb.held) == 1, "applied once, not on every tick"


def test_expired_events_are_neither_applied_nor_kept(tmp_path: Path) -> None:
    a, b = HostShare(str(tmp_path), 0), HostShare(str(tmp_path), 1)
    ea, eb = FakeEngine(), FakeEngine()
    ea.events.append(("cooling", "g/1", time.time() - 1))
    a.tick(ea)  # type: ignore[arg-type]
    b.tick(eb)  # type: ignore[arg-type]
    assert eb.held == []
    a.close()
    assert not (tmp_path / "health-0.json").exists()
