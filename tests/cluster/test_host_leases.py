"""Budget leases between the workers of a host: a SQLite file in their shared directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pllm.cluster.host_leases import HostLeases


def test_workers_never_lease_the_same_headroom(tmp_path: Path) -> None:
    path = str(tmp_path / "budgets.sqlite")
    workers = [HostLeases(path) for _ in range(3)]

    async def run() -> list[float]:
        granted: list[float] = []
        for _ in range(4):
            for w in workers:
                # Each asks for $4 of a $10 budget, for a request of $3.
                [(grant, _spent)] = await w.exchange([], [("k:1", 10.0, 4.0, 3.0, 0.0)])
                granted.append(grant)
        return granted

    granted = asyncio.run(run())
    # $2 left for the third: it gets the $3 its request needs, the one grant that crosses.
    assert granted[:3] == [4.0, 4.0, 3.0] and sum(granted[3:]) == 0.0
    assert sum(granted) <= 10.0 + 3.0


def test_reports_move_held_to_spent_and_the_database_total_wins(tmp_path: Path) -> None:
    store = HostLeases(str(tmp_path / "b.sqlite"))

    async def run() -> None:
        [(grant, spent)] = await store.exchange([], [("k:1", 10.0, 4.0, 1.0, 0.0)])
        assert (grant, spent) == (4.0, 0.0)
        # $3 spent, $1 given back: 0 held, 3 spent; the database says 5 were spent since.
        [(grant, spent)] = await store.exchange([("k:1", 3.0, 1.0)], [("k:1", 10.0, 9.0, 1.0, 5.0)])
        assert (grant, spent) == (5.0, 5.0)
        assert await store.exchange([("k:1", 1.0, 4.0)], []) == []
        store.close()

    asyncio.run(run())
