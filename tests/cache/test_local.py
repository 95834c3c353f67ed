"""The in-process LRU: bounded in bytes, evicting the least recently used, expiring."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from pllm.cache.local import OVERHEAD, LocalStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_lru_eviction_and_bytes() -> None:
    evicted: list[str] = []
    size = 1 + 100 + OVERHEAD
    store = LocalStore(3 * size, on_evict=evicted.append)

    async def go() -> None:
        for k in "abc":
            await store.set(k, b"x" * 100, 60, "m")
        assert await store.get("a") is not None  # a is now the most recent
        await store.set("d", b"x" * 100, 60, "n")
        assert await store.get("b") is None
        assert {k for k in "acd" if await store.get(k) is not None} == set("acd")

    run(go())
    assert evicted == ["m"]
    assert store.bytes == 3 * size
    assert store.bytes_by_model == {"m": 2 * size, "n": size}


def test_expiry_and_too_large() -> None:
    clock = Clock()
    store = LocalStore(1000, clock=clock)

    async def go() -> None:
        await store.set("a", b"v", 1.0, "m")
        assert await store.get("a") == b"v"
        clock.now = 1.5
        assert await store.get("a") is None
        await store.set("big", b"x" * 2000, 60, "m")
        assert await store.get("big") is None
        await store.set("p:1", b"1", 60, "m")
        await store.set("p:2", b"2", 60, "m")
        await store.set("q:2", b"2", 60, "m")
        assert await store.clear("p:") == 2
        assert await store.clear("", ":2") == 1

    run(go())
    assert store.bytes == 0 and store.bytes_by_model == {}


@settings(max_examples=50)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 300)), max_size=60))
def test_never_over_the_bound(ops: list[tuple[int, int]]) -> None:
    store = LocalStore(1500)

    async def go() -> None:
        for key, length in ops:
            await store.set(str(key), b"x" * length, 60, f"m{key % 3}")
            assert store.bytes <= 1500
            assert store.bytes == sum(store.bytes_by_model.values())

    run(go())
