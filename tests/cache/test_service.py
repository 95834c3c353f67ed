"""The cache service: scopes, an undecodable entry (a miss, deleted), expiry by the entry's
own time, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from pllm.cache.service import ResponseCache
from pllm.call import Call
from pllm.config.cache import CacheSettings
from pllm.observability.metrics import Metrics
from pllm.principal import Principal
from pllm.usage import Usage


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def payload() -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def call_for(key_id: str | None = None) -> Call:
    call = Call()
    if key_id is not None:
        call.principal = Principal("key", "member", key_id=key_id)
    return call


def test_undecodable_entry_is_a_miss_and_deleted() -> None:
    metrics = Metrics()
    cache = ResponseCache(CacheSettings(), metrics)

    async def go() -> None:
        plan = cache.plan(call_for(), "chat/completions", "m", payload(), {})
        assert plan is not None
        await cache.store.set(plan.where, b"\xc1 not msgpack", 60, "m")
        assert await cache.find(plan) is None
        assert await cache.store.get(plan.where) is None
        await cache.put(plan, b'{"choices": []}', Usage(1, 2, 3))
        entry = await cache.find(plan)
        assert entry is not None and entry.usage().total_tokens == 3

    asyncio.run(go())
    labels = (("model", "m"), ("cache_type", "local"))
    assert metrics.value("pllm_cache_misses_total", labels) == 1
    assert metrics.value("pllm_cache_hits_total", labels) == 1
    assert metrics.value("pllm_cache_stores_total", labels) == 1


def test_expiry_by_entry_time_and_scopes() -> None:
    clock = Clock()
    cache = ResponseCache(CacheSettings(ttl=10, scope="key"), Metrics(), clock=clock)

    async def go() -> None:
        a = cache.plan(call_for("a"), "chat/completions", "m", payload(), {})
        b = cache.plan(call_for("b"), "chat/completions", "m", payload(), {})
        assert a is not None and b is not None and a.key != b.key
        await cache.put(a, b"{}", None)
        assert await cache.find(a) is not None
        assert await cache.find(b) is None
        clock.now += 11
        assert await cache.find(a) is None
        assert cache.plan(call_for(), "messages", "m", payload(), {}) is None

    asyncio.run(go())


def test_clear_by_model_and_key() -> None:
    cache = ResponseCache(CacheSettings(), Metrics())

    async def go() -> None:
        plans = []
        for model in ("m1", "m2"):
            for text in ("x", "y"):
                p = payload() | {"messages": [{"role": "user", "content": text}]}
                plan = cache.plan(call_for(), "chat/completions", model, p, {})
                assert plan is not None
                await cache.put(plan, b"{}", None)
                plans.append(plan)
        assert await cache.clear(key=plans[0].key) == 1
        assert await cache.clear(model="m2") == 2
        assert await cache.clear() == 1

    asyncio.run(go())


def test_user_and_group_scopes() -> None:
    def key_of(scope: str, principal: Principal) -> str:
        cache = ResponseCache(CacheSettings(scope=scope), Metrics())
        call = Call()
        call.principal = principal
        plan = cache.plan(call, "chat/completions", "m", payload(), {})
        assert plan is not None
        return plan.key

    alice1 = Principal("key", "member", key_id="1", user_id="alice", group_ids=("g1", "g2"))
    alice2 = Principal("key", "member", key_id="2", user_id="alice", group_ids=("g2", "g1"))
    bob = Principal("key", "member", key_id="3", user_id="bob", group_ids=("g1",))
    assert key_of("user", alice1) == key_of("user", alice2) != key_of("user", bob)
    assert key_of("group", alice1) == key_of("group", alice2) != key_of("group", bob)
    assert key_of("key", alice1) != key_of("key", alice2)
    assert key_of("global", alice1) == key_of("global", bob)
