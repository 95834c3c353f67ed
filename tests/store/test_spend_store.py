from __future__ import annotations

import calendar
import time

import pytest
from sqlalchemy import select

from pllm.spend.record import SpendRecord
from pllm.store.engine import Store
from pllm.store.spend_store import (
    UsageRow,
    count_spend,
    insert_spend,
    period_spend,
    spend_logs,
    usage,
)
from pllm.store.tables import spend_daily

pytestmark = pytest.mark.anyio

DAY1 = calendar.timegm((2025, 6, 1, 12, 0, 0))  # 2025-06-01 12:00 UTC
DAY2 = DAY1 + 86400
LATE = calendar.timegm((2025, 6, 1, 23, 59, 59))  # still 2025-06-01 in UTC


def rec(n: int, ts: float = DAY1, **kw: object) -> SpendRecord:
    fields: dict[str, object] = {
        "request_id": f"req-{n:05d}",
        "ts": ts,
        "endpoint": "chat",
        "status": 200,
        "latency_ms": 12.5,
        "key_id": "k1",
        "user_id": "u1",
        "group_ids": ("g1", "g2"),
        "model": "gpt-4o",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": 0.25,
    }
    fields.update(kw)
    return SpendRecord(**fields)  # type: ignore[arg-type]


async def daily(store: Store) -> dict[tuple[str, str], tuple[int, int, int, float]]:
    async with store.read() as conn:
        rows = (await conn.execute(select(spend_daily))).mappings().all()
    return {
        (r["entity"], r["day"]): (
            r["requests"],
            r["prompt_tokens"],
            r["completion_tokens"],
            r["cost"],
        )
        for r in rows
    }


async def test_insert_counts_once_per_request_id(store: Store) -> None:
    batch = [rec(1), rec(2, ts=LATE, cost=0.5), rec(3, ts=DAY2, key_id="k2", group_ids=())]
    added = await insert_spend(store, batch)
    assert added == {
        "all": 1.0,
        "key:k1": 0.75,
        "key:k2": 0.25,
        "user:u1": 1.0,
        "group:g1": 0.75,
        "group:g2": 0.75,
        "model:gpt-4o": 1.0,
    }
    first = await daily(store)
    assert first[("key:k1", "2025-06-01")] == (2, 20, 10, 0.75)
    assert first[("all", "2025-06-02")] == (1, 10, 5, 0.25)
    assert ("group:g1", "2025-06-02") not in first

    # The same batch again (a spool replay): nothing is added, nothing is counted.
    assert await insert_spend(store, batch) == {}
    assert await daily(store) == first
    assert await count_spend(store) == 3

    # Overlapping: request 3 is old, 4 is new. Only 4 counts.
    added = await insert_spend(store, [rec(3, ts=DAY2, key_id="k2"), rec(4, cost=1.0)])
    assert added["all"] == 1.0 and added["key:k1"] == 1.0 and "key:k2" not in added
    after = await daily(store)
    assert after[("key:k1", "2025-06-01")] == (3, 30, 15, 1.75)
    assert after[("key:k2", "2025-06-02")] == first[("key:k2", "2025-06-02")]
    assert await count_spend(store) == 4


async def test_duplicates_within_one_batch_count_once(store: Store) -> None:
    added = await insert_spend(store, [rec(1), rec(1), rec(1, cost=9.0)])
    assert added["all"] == 0.25
    assert (await daily(store))[("all", "2025-06-01")] == (1, 10, 5, 0.25)
    assert await insert_spend(store, []) == {}


async def test_a_batch_of_1000_is_fast(store: Store) -> None:
    batch = [rec(n, ts=DAY1 + n, key_id=f"k{n % 10}", cost=0.001) for n in range(1000)]
    started = time.perf_counter()
    added = await insert_spend(store, batch)
    elapsed = time.perf_counter() - started
    assert await count_spend(store) == 1000
    assert added["all"] == pytest.approx(1.0)
    assert (await daily(store))[("key:k3", "2025-06-01")][0] == 100
    # Row by row this takes seconds; one multi-row statement takes tens of milliseconds.
    assert elapsed < 2.0, elapsed
    started = time.perf_counter()
    assert await insert_spend(store, batch) == {}
    assert time.perf_counter() - started < 2.0


async def test_records_round_trip(store: Store) -> None:
    full = rec(
        1,
        deployment="azure-east",
        cached_tokens=3,
        ttft_ms=80.0,
        attempts=2,
        streamed=True,
        cache_hit=True,
        error="upstream_timeout",
        status=504,
    )
    bare = SpendRecord(
        request_id="req-bare", ts=DAY1 - 1, endpoint="embeddings", status=200, latency_ms=1.0
    )
    await insert_spend(store, [full, bare])
    assert await spend_logs(store) == [full, bare]


async def test_period_spend(store: Store) -> None:
    await insert_spend(
        store,
        [
            rec(1, ts=DAY1 - 86400, cost=1.0),  # 2025-05-31
            rec(2, ts=DAY1, cost=2.0),
            rec(3, ts=DAY2, cost=4.0, key_id="k2"),
        ],
    )
    got = await period_spend(
        store,
        [
            ("key:k1", "2025-06-01"),
            ("key:k2", "2025-06-01"),
            ("user:u1", "2025-05-01"),
            ("group:g1", "2025-06-02"),
            ("key:never", "2025-01-01"),
        ],
    )
    assert got == {
        "key:k1": 2.0,
        "key:k2": 4.0,
        "user:u1": 7.0,
        "group:g1": 4.0,
        "key:never": 0.0,
    }
    assert await period_spend(store, []) == {}
    many = [(f"key:x{n}", "2025-01-01") for n in range(1200)] + [("all", "2025-06-02")]
    result = await period_spend(store, many)
    assert len(result) == 1201 and result["all"] == 4.0


async def test_usage(store: Store) -> None:
    await insert_spend(
        store,
        [
            rec(1, ts=DAY1, key_id="k1"),
            rec(2, ts=DAY1, key_id="k2", model="claude"),
            rec(3, ts=DAY2, key_id="k1", cost=1.0),
            rec(4, ts=DAY2 + 86400, key_id="k1"),  # outside the range below
        ],
    )

    async def by(
        group_by: str,
        entity_id: str | None,
        days: tuple[str, str],
        limit: int = 10,
        offset: int = 0,
    ) -> tuple[list[UsageRow], int]:
        day_from, day_to = days
        return await usage(
            store,
            group_by=group_by,
            entity_id=entity_id,
            day_from=day_from,
            day_to=day_to,
            limit=limit,
            offset=offset,
        )

    rows, total = await by("key", None, ("2025-06-01", "2025-06-02"))
    assert total == 3
    assert rows == [
        UsageRow("k1", "2025-06-01", 1, 10, 5, 0.25),
        UsageRow("k2", "2025-06-01", 1, 10, 5, 0.25),
        UsageRow("k1", "2025-06-02", 1, 10, 5, 1.0),
    ]
    page, total = await by("key", None, ("2025-06-01", "2025-06-02"), limit=2, offset=2)
    assert total == 3 and page == rows[2:]
    only, total = await by("key", "k1", ("2025-01-01", "2025-12-31"))
    assert total == 3 and [r.day for r in only] == ["2025-06-01", "2025-06-02", "2025-06-03"]
    models, _ = await by("model", None, ("2025-06-01", "2025-06-01"))
    assert [(r.entity, r.requests) for r in models] == [("claude", 1), ("gpt-4o", 1)]
    groups, _ = await by("group", "g2", ("2025-06-01", "2025-06-01"))
    assert groups == [UsageRow("g2", "2025-06-01", 2, 20, 10, 0.5)]


async def test_spend_logs_filters_and_pages(store: Store) -> None:
    records = [
        rec(
            n,
            ts=DAY1 + n // 2,
            key_id=f"k{n % 2}",
            user_id=f"u{n % 3}",
            group_ids=("g-all", f"g{n % 2}"),
            model=("a" if n < 10 else "b"),
        )
        for n in range(20)
    ]  # two records per timestamp: the page boundary splits equal ts values
    await insert_spend(store, records)
    newest_first = sorted(records, key=lambda r: (r.ts, r.request_id), reverse=True)

    pages: list[SpendRecord] = []
    before: tuple[float, str] | None = None
    while True:
        page = await spend_logs(store, limit=3, before=before)
        if not page:
            break
        pages.extend(page)
        before = (page[-1].ts, page[-1].request_id)
    assert pages == newest_first

    def ids(found: list[SpendRecord]) -> list[str]:
        return [r.request_id for r in found]

    assert ids(await spend_logs(store, key_id="k1")) == ids(
        [r for r in newest_first if r.key_id == "k1"]
    )
    assert ids(await spend_logs(store, user_id="u2", model="a")) == ids(
        [r for r in newest_first if r.user_id == "u2" and r.model == "a"]
    )
    assert ids(await spend_logs(store, group_id="g1")) == ids(
        [r for r in newest_first if "g1" in r.group_ids]
    )
    assert len(await spend_logs(store, group_id="g-all", limit=100)) == 20
    assert await spend_logs(store, group_id="g") == []  # whole ids only
    window = await spend_logs(store, ts_from=DAY1 + 2, ts_to=DAY1 + 4)
    assert ids(window) == ids([r for r in newest_first if DAY1 + 2 <= r.ts < DAY1 + 4])
    assert len(window) == 4
