"""Budgets across instances against a real Redis: three ledgers, each with its instance's
leases (pllm.cluster.budgets), never admit more than the budget plus one request between
them, whether requests settle one by one or are all in flight at once."""

from __future__ import annotations

import asyncio
import itertools
import time

from pllm.budgets.ledger import BudgetLedger, Reservation
from pllm.budgets.periods import period_start
from pllm.cluster.budgets import BudgetLeases, RedisLeases
from pllm.cluster.link import Link
from pllm.config.schema import RedisSettings
from pllm.principal import Budget
from tests.redis_server import RedisServer, redis_server  # noqa: F401

_names = itertools.count()


def budget(max_budget: float) -> Budget:
    return Budget(f"key:b{next(_names)}", max_budget, "monthly")


def instances(url: str, n: int) -> list[tuple[BudgetLedger, BudgetLeases]]:
    out = []
    for i in range(n):
        ledger = BudgetLedger()
        leases = BudgetLeases(RedisLeases(Link(RedisSettings(url=url), f"b{i}")), lambda: n)
        ledger.cluster = leases
        out.append((ledger, leases))
    return out


async def _round_robin(url: str, settle: bool, requests: int = 60) -> tuple[int, float]:
    group = instances(url, 3)
    b = budget(10.0)
    for _, leases in group:
        await leases.prefetch([b])
    admitted = 0
    for i in range(requests):
        ledger, leases = group[i % 3]
        got = ledger.reserve([b], 1.0)
        if isinstance(got, Reservation):
            admitted += 1
            if settle:
                ledger.settle(got, 1.0)
        await leases.refill_once()  # what the background task does between two requests
    for _, leases in group:
        await leases.refill_once()
    key = f"pllm:bg:{b.entity}:{period_start('monthly', time.time()):.0f}"
    spent = float(await group[0][1].store.link.client.hget(key, "spent") or 0)
    for _, leases in group:
        await leases.store.link.close()
    return admitted, spent


def test_three_instances_settling_one_by_one_admit_at_most_one_over(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    admitted, spent = asyncio.run(_round_robin(redis_server.url, settle=True))
    assert 9 <= admitted <= 11
    assert spent == admitted  # every settled cost reached Redis once


def test_three_instances_with_everything_in_flight_admit_at_most_one_over(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    admitted, _ = asyncio.run(_round_robin(redis_server.url, settle=False))
    assert 9 <= admitted <= 11


async def _database_total(url: str) -> list[bool]:
    (ledger, leases), (other, other_leases) = instances(url, 2)
    b = budget(10.0)
    start = period_start(b.period, time.time())
    # The database says 9.5 are spent (by instances that are gone, say): the first
    # instance's ledger never saw it, the lease script takes it from the other's sync.
    other.sync(b.entity, start, 9.5)
    await other_leases.prefetch([b])  # 0.125 of the 0.5 left: too short for a request
    admitted = [isinstance(ledger.reserve([b], 1.0), Reservation)]  # no lease yet here
    await leases.refill_once()  # asked for 1.0 with 0.375 left: the one grant that crosses
    for _ in range(3):
        admitted.append(isinstance(other.reserve([b], 1.0), Reservation))
        await other_leases.refill_once()  # nothing left: its 0.125 goes back
    for _ in range(2):
        admitted.append(isinstance(ledger.reserve([b], 1.0), Reservation))
        await leases.refill_once()
    for link in (leases.store.link, other_leases.store.link):
        await link.close()
    return admitted


def test_the_database_total_is_the_floor_of_what_redis_counts(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    # One request admitted of the 0.5 left, by either instance, once (a refusal first: the
    # leases errs low where a request does not fit).
    admitted = asyncio.run(_database_total(redis_server.url))
    assert admitted == [False, False, False, False, True, False]


async def _idle(url: str) -> tuple[float, float, bool]:
    ((ledger, leases),) = instances(url, 1)
    b = budget(100.0)
    await leases.prefetch([b])
    key = f"pllm:bg:{b.entity}:{period_start(b.period, time.time()):.0f}"
    held = float(await leases.store.link.client.hget(key, "held") or 0)
    got = ledger.reserve([b], 1.0)
    assert isinstance(got, Reservation)
    ledger.settle(got, 1.0)
    for share in leases._shares.values():
        share.seen -= 60  # idle for a minute
    leases._sweep()
    await leases.refill_once()
    after = float(await leases.store.link.client.hget(key, "held") or 0)
    # What it kept covers the next request at once.
    admitted = isinstance(ledger.reserve([b], 1.0), Reservation)
    await leases.store.link.close()
    return held, after, admitted


def test_an_idle_lease_goes_back_but_for_the_next_request(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    held, after, admitted = asyncio.run(_idle(redis_server.url))
    assert held == 50.0  # a half share of the remaining budget at one instance
    assert after == 2.0  # twice the last request's maximum cost
    assert admitted


async def _down(port: int) -> int:
    ledger = BudgetLedger()
    leases = BudgetLeases(
        RedisLeases(Link(RedisSettings(host="127.0.0.1", port=port), "lonely")), lambda: 3
    )
    ledger.cluster = leases
    b = budget(5.0)
    await leases.prefetch([b])  # fails: the link is down, logged once
    assert leases.store.link.up is False
    admitted = sum(isinstance(ledger.reserve([b], 1.0), Reservation) for _ in range(10))
    await leases.store.link.close()
    return admitted


def test_with_redis_down_the_ledger_alone_decides() -> None:
    from tests.e2e.gateway import free_port

    assert asyncio.run(_down(free_port())) == 5
