from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pllm.budgets import BudgetAlert, BudgetExceeded, BudgetLedger, Reservation
from pllm.budgets.periods import period_start
from pllm.principal import Budget

DAY1 = datetime(2025, 3, 9, 12, tzinfo=UTC).timestamp()
KEY = "key:k"
USER = "user:u"


class Clock:
    def __init__(self, now: float = DAY1) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def admitted(r: Reservation | BudgetExceeded) -> Reservation:
    assert isinstance(r, Reservation), r
    return r


def test_reserve_then_settle() -> None:
    ledger = BudgetLedger()
    b = Budget(KEY, 10.0)
    r = admitted(ledger.reserve((b,), 2.0))
    assert ledger.reserved(KEY) == 2.0 and ledger.spent(KEY) == 0.0
    ledger.settle(r, 0.5)
    assert ledger.reserved(KEY) == 0.0 and ledger.spent(KEY) == 0.5
    assert r.settled


def test_refusal_says_why() -> None:
    clock = Clock()
    ledger = BudgetLedger(clock=clock)
    b = Budget(KEY, 1.0, "daily")
    r = admitted(ledger.reserve([b], 0.75))
    admitted(ledger.reserve([b], 0.25))
    held = ledger.reserve([b], 0.1)
    assert isinstance(held, BudgetExceeded) and held.reserved == 1.0
    ledger.settle(r, 1.25)
    refused = ledger.reserve([b], 0.1)
    assert refused == BudgetExceeded(
        KEY, 1.0, 1.25, "daily", 0.25, period_start("daily", DAY1) + 86400
    )
    total = ledger.reserve([Budget(USER, 0.0)], 0.1)
    assert isinstance(total, BudgetExceeded) and total.resets_at is None


def test_admission_is_strict_and_ignores_the_requests_own_cost() -> None:
    ledger = BudgetLedger()
    b = Budget(KEY, 10.0)
    # 9.5 of 10 used: one more request fits, however large, and takes spend past the cap.
    ledger.settle(admitted(ledger.reserve([b], 9.5)), 9.5)
    r = admitted(ledger.reserve([b], 5.0))
    ledger.settle(r, 5.0)
    assert isinstance(ledger.reserve([b], 0.0), BudgetExceeded)


def test_no_budgets_and_bad_costs() -> None:
    ledger = BudgetLedger()
    r = admitted(ledger.reserve((), 3.0))
    ledger.settle(r, 3.0)
    with pytest.raises(ValueError):
        ledger.reserve([Budget(KEY, 1.0)], -1.0)
    with pytest.raises(ValueError):
        ledger.reserve([Budget(KEY, 1.0)], float("nan"))
    r = admitted(ledger.reserve([Budget(KEY, 1.0)], 0.5))
    ledger.settle(r, float("nan"))
    assert ledger.spent(KEY) == 0.0 and ledger.reserved(KEY) == 0.0


# --- the race -----------------------------------------------------------------------------


def run_race(choices: list[int], cost: float, *, writer: bool) -> tuple[int, float]:
    """200 requests of max cost 1 against a budget of 10, reserves and settles interleaved
    by ``choices``; with ``writer``, flushes and syncs are interleaved too."""
    ledger = BudgetLedger()
    budget = (Budget(KEY, 10.0, "total"),)
    waiting, in_flight, pending = 200, list[Reservation](), list[float]()
    admitted_count, settled_total, db = 0, 0.0, 0.0
    for c in choices:
        if writer and c % 7 == 0 and pending:
            batch, pending = pending[: c % 5 + 1], pending[c % 5 + 1 :]
            ledger.on_flushed({KEY: sum(batch), "all": sum(batch)})
            db += sum(batch)
        elif writer and c % 7 == 1:
            ledger.sync(KEY, 0.0, db)
        elif waiting and (c % 2 == 0 or not in_flight):
            waiting -= 1
            r = ledger.reserve(budget, 1.0)
            if isinstance(r, Reservation):
                admitted_count += 1
                in_flight.append(r)
        elif in_flight:
            r = in_flight.pop(c % len(in_flight))
            ledger.settle(r, cost)
            settled_total += cost
            pending.append(cost)
    for r in in_flight:
        ledger.settle(r, cost)
        settled_total += cost
    assert ledger.reserved(KEY) == 0.0
    assert ledger.spent(KEY) == pytest.approx(settled_total)
    return admitted_count, settled_total


choices = st.lists(st.integers(0, 2**16), min_size=200, max_size=600)


@given(choices, st.booleans())
def test_race_admits_at_most_one_request_over(order: list[int], writer: bool) -> None:
    count, spent = run_race(order, 1.0, writer=writer)
    assert count <= 11 and spent <= 11
    # Each request costs exactly what it reserves, so not even that one gets through.
    assert count <= 10


@given(choices, st.floats(0, 1), st.booleans())
def test_race_overspends_by_at_most_one_max_cost(order: list[int], cost: float, w: bool) -> None:
    _, spent = run_race(order, cost, writer=w)
    assert spent < 11 + 1e-9


def test_race_between_threads() -> None:
    ledger = BudgetLedger()
    budget = (Budget(KEY, 10.0),)
    start = threading.Barrier(8)

    def request(i: int) -> bool:
        if i < 8:
            start.wait()
        r = ledger.reserve(budget, 1.0)
        if isinstance(r, BudgetExceeded):
            return False
        ledger.settle(r, 1.0)
        return True

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(request, range(200)))
    assert sum(results) <= 11
    assert ledger.spent(KEY) <= 11 and ledger.reserved(KEY) == 0.0


# --- settle and cancel --------------------------------------------------------------------


def test_settle_and_cancel_are_idempotent() -> None:
    ledger = BudgetLedger()
    b = (Budget(KEY, 10.0),)
    r1 = admitted(ledger.reserve(b, 2.0))
    r2 = admitted(ledger.reserve(b, 3.0))
    ledger.settle(r1, 1.0)
    ledger.settle(r1, 1.0)
    ledger.cancel(r1)
    assert ledger.spent(KEY) == 1.0 and ledger.reserved(KEY) == 3.0
    ledger.cancel(r2)
    ledger.cancel(r2)
    ledger.settle(r2, 5.0)
    assert ledger.spent(KEY) == 1.0 and ledger.reserved(KEY) == 0.0


# --- several budgets ----------------------------------------------------------------------


def test_refused_on_one_budget_holds_nothing_on_the_others() -> None:
    ledger = BudgetLedger()
    key, user, group = Budget(KEY, 10.0), Budget(USER, 1.0), Budget("group:g", 10.0)
    ledger.settle(admitted(ledger.reserve([user], 1.0)), 1.0)
    refused = ledger.reserve([key, user, group], 0.5)
    assert isinstance(refused, BudgetExceeded) and refused.entity == USER
    assert ledger.reserved(KEY) == 0.0 and ledger.reserved("group:g") == 0.0
    r = admitted(ledger.reserve([key, group], 0.5))
    assert ledger.reserved(KEY) == 0.5 and ledger.reserved("group:g") == 0.5
    ledger.settle(r, 0.25)
    assert ledger.spent(KEY) == ledger.spent("group:g") == 0.25


# --- spend across the database ------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("settle"), st.floats(0, 5)),
        st.tuples(st.just("flush"), st.integers(1, 4)),
        st.tuples(st.just("sync"), st.just(0)),
        st.tuples(st.just("other"), st.floats(0, 5)),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(ops)
def test_flush_and_sync_never_double_count(steps: list[tuple[str, float]]) -> None:
    ledger = BudgetLedger()
    budget = (Budget(KEY, 1e9, "total"),)
    ledger.cancel(admitted(ledger.reserve(budget, 0.0)))
    pending: list[float] = []
    settled = db = others = others_synced = 0.0
    for op, x in steps:
        if op == "settle":
            ledger.settle(admitted(ledger.reserve(budget, 5.0)), x)
            settled += x
            pending.append(x)
        elif op == "flush":
            batch, pending = pending[: int(x)], pending[int(x) :]
            db += sum(batch)
            ledger.on_flushed({KEY: sum(batch)})
        elif op == "sync":
            ledger.sync(KEY, 0.0, db)
            others_synced = others
        else:
            # Another worker's spend reaches the database; only a sync shows it here.
            others += x
            db += x
        assert ledger.spent(KEY) == pytest.approx(settled + others_synced, abs=1e-9)


def test_sync_for_another_period_is_ignored() -> None:
    clock = Clock()
    ledger = BudgetLedger(clock=clock)
    ledger.reserve([Budget(KEY, 10.0, "daily")], 1.0)
    today = period_start("daily", DAY1)
    ledger.sync(KEY, today - 86400, 7.0)
    assert ledger.spent(KEY) == 0.0 and not ledger.synced(KEY)
    ledger.sync(KEY, today, 7.0)
    assert ledger.spent(KEY) == 7.0 and ledger.synced(KEY)


def test_sync_before_the_first_request_counts() -> None:
    clock = Clock()
    ledger = BudgetLedger(clock=clock)
    today = period_start("daily", DAY1)
    b = Budget(KEY, 10.0, "daily")
    ledger.sync(KEY, today, 10.0)
    ledger.sync(USER, today - 86400, 10.0)  # yesterday's: no use today
    assert ledger.synced(KEY) and ledger.spent(KEY) == 0.0
    assert ledger.tracked() == []
    assert isinstance(ledger.reserve([b], 1.0), BudgetExceeded)
    assert ledger.spent(KEY) == 10.0 and ledger.synced(KEY)
    admitted(ledger.reserve([Budget(USER, 10.0, "daily")], 1.0))
    assert ledger.spent(USER) == 0.0 and not ledger.synced(USER)


# --- periods ------------------------------------------------------------------------------


def test_rollover_starts_from_zero_and_keeps_holds() -> None:
    clock = Clock()
    ledger = BudgetLedger(clock=clock)
    b = (Budget(KEY, 10.0, "daily"),)
    day1 = period_start("daily", DAY1)
    ledger.sync(KEY, day1, 0.0)
    ledger.settle(admitted(ledger.reserve(b, 6.0)), 6.0)
    ledger.on_flushed({KEY: 6.0})
    ledger.settle(admitted(ledger.reserve(b, 3.0)), 3.0)  # not flushed before midnight
    late = admitted(ledger.reserve(b, 1.0))  # still running at midnight
    assert isinstance(ledger.reserve(b, 1.0), BudgetExceeded)

    clock.now = day1 + 86400 + 5
    day2 = day1 + 86400
    assert ledger.spent(KEY) == 0.0
    assert ledger.reserved(KEY) == 1.0
    assert ledger.tracked() == [(KEY, "daily", day2)]
    r = admitted(ledger.reserve(b, 2.0))
    ledger.settle(r, 2.0)
    # The late request was admitted yesterday: the database books it there, and so do we.
    ledger.settle(late, 1.0)
    assert ledger.spent(KEY) == 2.0 and ledger.reserved(KEY) == 0.0
    # Yesterday's unflushed 3 + 1 are flushed first; they are not today's 2.
    ledger.on_flushed({KEY: 4.0})
    assert ledger.spent(KEY) == 2.0
    ledger.on_flushed({KEY: 2.0})
    assert ledger.spent(KEY) == 2.0
    ledger.sync(KEY, day1, 12.0)  # a read of yesterday's total, late
    assert ledger.spent(KEY) == 2.0
    ledger.sync(KEY, day2, 2.0)
    assert ledger.spent(KEY) == 2.0


def test_changing_the_period_takes_effect() -> None:
    clock = Clock()
    ledger = BudgetLedger(clock=clock)
    ledger.settle(admitted(ledger.reserve([Budget(KEY, 10.0, "total")], 1.0)), 1.0)
    assert ledger.tracked() == [(KEY, "total", 0.0)]
    admitted(ledger.reserve([Budget(KEY, 10.0, "monthly")], 1.0))
    assert ledger.tracked() == [(KEY, "monthly", period_start("monthly", DAY1))]
    assert not ledger.synced(KEY)


def test_tracked_forgets_idle_entities() -> None:
    clock = Clock()
    ledger = BudgetLedger(clock=clock, track_for=60.0, max_entities=2)
    for i in range(3):
        ledger.settle(admitted(ledger.reserve([Budget(f"key:{i}", 10.0)], 1.0)), 1.0)
        ledger.on_flushed({f"key:{i}": 1.0})
    held = admitted(ledger.reserve([Budget("key:held", 10.0)], 1.0))
    assert len(ledger.tracked()) == 4
    clock.now += 61
    # Idle ones drop out; the one with a request in flight stays.
    assert ledger.tracked() == [("key:held", "total", 0.0)]
    ledger.settle(held, 1.0)
    assert ledger.tracked() == [("key:held", "total", 0.0)]  # its cost is not flushed yet


# --- alerts -------------------------------------------------------------------------------


def test_alerts_fire_once_per_period() -> None:
    clock = Clock()
    alerts: list[BudgetAlert] = []
    ledger = BudgetLedger(alerts.append, clock)
    b = (Budget(KEY, 10.0, "daily", soft_budget=5.0),)
    for _ in range(12):
        r = ledger.reserve(b, 1.0)
        if isinstance(r, Reservation):
            ledger.settle(r, 1.0)
    assert alerts == [
        BudgetAlert(KEY, 5.0, 5.0, 10.0, "daily", "soft"),
        BudgetAlert(KEY, 10.0, 5.0, 10.0, "daily", "exceeded"),
    ]
    clock.now += 86400
    ledger.settle(admitted(ledger.reserve(b, 6.0)), 6.0)
    assert [a.kind for a in alerts] == ["soft", "exceeded", "soft"]


def test_one_settle_can_cross_both_thresholds() -> None:
    alerts: list[BudgetAlert] = []
    ledger = BudgetLedger(alerts.append)
    ledger.settle(admitted(ledger.reserve([Budget(KEY, 1.0, soft_budget=0.5)], 1.0)), 3.0)
    assert [(a.kind, a.spent) for a in alerts] == [("soft", 3.0), ("exceeded", 3.0)]
    no_soft = BudgetLedger(alerts.append)
    no_soft.settle(admitted(no_soft.reserve([Budget(USER, 1.0)], 1.0)), 0.99)
    assert len(alerts) == 2


def test_alert_handlers_may_use_the_ledger_and_may_fail(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[float] = []
    ledger: BudgetLedger

    def handler(alert: BudgetAlert) -> None:
        seen.append(ledger.spent(alert.entity) + ledger.reserved(alert.entity))
        raise RuntimeError("webhook down")

    ledger = BudgetLedger(handler)
    with caplog.at_level(logging.ERROR, logger="pllm.budgets.ledger"):
        ledger.settle(admitted(ledger.reserve([Budget(KEY, 10.0, soft_budget=1.0)], 2.0)), 2.0)
    assert seen == [2.0]
    assert "budget alert handler failed" in caplog.text
    assert ledger.spent(KEY) == 2.0
