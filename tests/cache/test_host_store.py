"""The `local` cache of a host's workers: files in their shared directory."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pllm.cache.host_store import HostStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_two_workers_see_each_others_entries_and_expiry(tmp_path: Path) -> None:
    clock = Clock()
    a = HostStore(str(tmp_path), 10_000, sweeper=False, clock=clock)
    b = HostStore(str(tmp_path), 10_000, sweeper=False, clock=clock)

    async def run() -> None:
        await a.set("ns:m:k1", b"reply", 60, "m")
        assert await b.get("ns:m:k1") == b"reply"
        assert await b.get("ns:m:other") is None
        clock.now += 61
        assert await b.get("ns:m:k1") is None
        assert not list(tmp_path.iterdir()), "an expired entry is deleted when met"

    asyncio.run(run())


def test_the_sweep_keeps_the_bound_evicting_the_least_recently_used(tmp_path: Path) -> None:
    clock = Clock()
    evicted: list[str] = []
    store = HostStore(str(tmp_path), 700, sweeper=True, on_evict=evicted.append, clock=clock)

    async def run() -> None:
        for i in range(5):
            clock.now += 1
            await store.set(f"ns:m{i}:k", bytes(300), 600, f"m{i}")
        clock.now += 1
        assert await store.get("ns:m0:k") is not None  # m0 used last: kept
        store.sweep()
        assert store.bytes <= 700 and store.entries == 2
        assert await store.get("ns:m0:k") is not None
        assert evicted == ["m1", "m2", "m3"]
        assert await store.close() is None

    asyncio.run(run())


def test_torn_or_foreign_files_are_misses_and_clear_matches_keys(tmp_path: Path) -> None:
    store = HostStore(str(tmp_path), 10_000, sweeper=False)

    async def run() -> None:
        await store.set("ns:a:1", b"x", 60, "a")
        await store.set("ns:b:2", b"y", 60, "b")
        (path,) = [p for p in tmp_path.iterdir() if (p.read_bytes()).endswith(b"y")]
        path.write_bytes(path.read_bytes()[:5])  # torn
        assert await store.get("ns:b:2") is None
        assert await store.clear("ns:a:") == 1
        assert await store.get("ns:a:1") is None
        big = HostStore(str(tmp_path), 10, sweeper=False)
        await big.set("ns:c:3", b"z" * 100, 60, "c")  # larger than the bound: not stored
        assert await big.get("ns:c:3") is None

    asyncio.run(run())
    assert all(not p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert os.access(tmp_path, os.W_OK)
