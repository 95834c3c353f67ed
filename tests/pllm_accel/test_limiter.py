"""The per-principal rate limiter through its Python binding, against a reference model."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pllm_accel import Limiter, Refusal

Claim = tuple[str, int | None, int | None, int | None]


def refused(got: int | Refusal) -> tuple[str, str, float]:
    """A refusal's fields, failing if `acquire` admitted instead."""
    assert isinstance(got, Refusal), got
    return got.entity, got.kind, got.retry_after


def test_a_fresh_entity_admits_its_rpm_at_once_then_limit_per_minute() -> None:
    limiter = Limiter()
    claims = [("key:a", 6, None, None)]
    tickets = [limiter.acquire(claims, 0, now=100.0) for _ in range(6)]
    assert all(isinstance(t, int) and t > 0 for t in tickets)
    assert len(set(tickets)) == 6
    assert refused(limiter.acquire(claims, 0, now=100.0)) == ("key:a", "rpm", 10.0)
    assert refused(limiter.acquire(claims, 0, now=109.5)) == ("key:a", "rpm", 0.5)
    assert isinstance(limiter.acquire(claims, 0, now=110.0), int)
    assert limiter.in_flight("key:a") == 7
    assert limiter.in_flight_total() == 7


def test_tpm_reserves_the_estimate_and_release_settles_the_actual() -> None:
    limiter = Limiter()
    claims = [("user:b", None, 100, None)]
    ticket = limiter.acquire(claims, 100, now=0.0)
    assert isinstance(ticket, int)
    assert refused(limiter.acquire(claims, 1, now=0.0)) == ("user:b", "tpm", 0.6)
    assert limiter.release(ticket, 40, now=0.0) is True
    # 60 of the 100 reserved came back.
    assert refused(limiter.acquire(claims, 61, now=0.0))[1] == "tpm"
    ticket = limiter.acquire(claims, 60, now=0.0)
    assert isinstance(ticket, int)
    # 30 used beyond the estimate are charged: 31 short for one token, at 100 per minute.
    assert limiter.release(ticket, 90, now=0.0)
    assert refused(limiter.acquire(claims, 1, now=0.0)) == ("user:b", "tpm", 18.6)


def test_a_request_bigger_than_the_minute_budget_passes_on_a_full_bucket() -> None:
    limiter = Limiter()
    claims = [("key:a", None, 1_000, None)]
    assert isinstance(limiter.acquire(claims, 5_000, now=0.0), int)
    # 5000 owed on 1000 per minute: full again in five minutes.
    assert refused(limiter.acquire(claims, 5_000, now=0.0)) == ("key:a", "tpm", 300.0)
    assert isinstance(limiter.acquire(claims, 5_000, now=300.0), int)


def test_parallel_slots_come_back_on_release_exactly_once() -> None:
    limiter = Limiter()
    claims = [("key:a", None, None, 1)]
    ticket = limiter.acquire(claims, 0)
    assert isinstance(ticket, int)
    assert refused(limiter.acquire(claims, 0)) == ("key:a", "parallel", 1.0)
    assert limiter.release(ticket)
    assert not limiter.release(ticket)
    assert not limiter.release(12345)
    assert limiter.in_flight("key:a") == 0
    assert isinstance(limiter.acquire(claims, 0), int)


def test_a_refusal_by_one_entity_charges_none_of_the_others() -> None:
    limiter = Limiter()
    held = limiter.acquire([("team:c", None, None, 1)], 0, now=0.0)
    assert isinstance(held, int)
    claims: list[Claim] = [
        ("key:a", 1, 10, 1),
        ("user:b", 5, None, None),
        ("team:c", None, None, 1),
    ]
    assert refused(limiter.acquire(claims, 10, now=0.0)) == ("team:c", "parallel", 1.0)
    assert limiter.in_flight("key:a") == limiter.in_flight("user:b") == 0
    assert limiter.release(held, now=0.0)
    # key:a's single request per minute was not spent by the refusal.
    assert isinstance(limiter.acquire(claims, 10, now=0.0), int)
    assert [limiter.in_flight(e) for e in ("key:a", "user:b", "team:c")] == [1, 1, 1]


def test_the_refusal_reported_is_the_limit_that_frees_up_last() -> None:
    limiter = Limiter()
    claims: list[Claim] = [("key:a", 60, None, 1), ("user:b", 1, None, None)]
    assert isinstance(limiter.acquire(claims, 0, now=0.0), int)
    assert refused(limiter.acquire(claims, 0, now=0.0)) == ("user:b", "rpm", 60.0)


def test_unlimited_entities_are_not_tracked_but_their_tickets_count() -> None:
    limiter = Limiter()
    ticket = limiter.acquire([("key:free", None, None, None)], 10)
    assert isinstance(ticket, int)
    assert limiter.tracked() == 0
    assert limiter.in_flight("key:free") == 0
    assert limiter.in_flight_total() == 1
    assert limiter.release(ticket, 10)
    assert limiter.in_flight_total() == 0


def test_limits_come_with_every_call_and_the_latest_admitted_ones_stick() -> None:
    limiter = Limiter()
    for _ in range(2):
        assert isinstance(limiter.acquire([("key:a", 2, None, None)], 0, now=0.0), int)
    assert refused(limiter.acquire([("key:a", 2, None, None)], 0, now=0.0))[1] == "rpm"
    # Raised by an admin: the extra headroom is there at once.
    assert isinstance(limiter.acquire([("key:a", 3, None, None)], 0, now=0.0), int)
    assert limiter.in_flight("key:a") == 3


def test_the_real_clock_is_used_without_now() -> None:
    limiter = Limiter()
    ticket = limiter.acquire([("key:a", 1, 1_000, 1)], 500)
    assert isinstance(ticket, int)
    entity, _, retry_after = refused(limiter.acquire([("key:a", 1, 1_000, 1)], 500))
    assert entity == "key:a"
    assert 0.0 < retry_after <= 60.0
    assert limiter.release(ticket, 100)
    assert limiter.in_flight_total() == 0


def test_idle_entities_are_forgotten_as_acquires_go_on() -> None:
    limiter = Limiter()
    for i in range(5_000):
        ticket = limiter.acquire([(f"key:{i}", 1_000_000, None, None)], 0, now=i / 1000)
        assert isinstance(ticket, int)
        assert limiter.release(ticket, now=i / 1000)
    assert limiter.tracked() <= 1_100


def test_a_refusal_is_a_small_frozen_value() -> None:
    limiter = Limiter()
    claims = [("key:a", 1, None, None)]
    assert isinstance(limiter.acquire(claims, 0, now=0.0), int)
    refusal = limiter.acquire(claims, 0, now=0.0)
    assert isinstance(refusal, Refusal)
    assert refusal == limiter.acquire(claims, 0, now=0.0), "equal by value"
    assert refusal != limiter.acquire(claims, 0, now=1.0)
    assert repr(refusal) == "Refusal(entity='key:a', kind='rpm', retry_after=60.0)"
    with pytest.raises(AttributeError):
        refusal.kind = "tpm"  # type: ignore[misc]


def test_bad_arguments_raise() -> None:
    limiter = Limiter()
    with pytest.raises(OverflowError):
        limiter.acquire([("key:a", 1, None, None)], -1)
    with pytest.raises(OverflowError):
        limiter.acquire([("key:a", -1, None, None)], 0)
    with pytest.raises(TypeError):
        limiter.acquire("key:a", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="length"):
        limiter.acquire([("key:a", 1, None)], 0)  # type: ignore[list-item]
    assert limiter.in_flight_total() == 0


# The reference model: the same fixed-point buckets, written as plainly as possible.
# One token is UNITS units; a limit of L per minute refills L units per microsecond.
UNITS = 60_000_000
BLOCKED_US = 60_000_000
PARALLEL_US = 1_000_000


def micros(now: float) -> int:
    return max(0, int(now * 1e6))


def wait_us(debt: int, limit: int, need: int, rate: int | None) -> int:
    if limit == 0:
        return BLOCKED_US
    allowed = (limit - min(need, limit)) * UNITS
    if debt <= allowed:
        return 0
    if not rate:
        return BLOCKED_US
    return -(-(debt - allowed) // rate)


@dataclass
class Entity:
    last: int
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    rpm_debt: int = 0
    tpm_debt: int = 0
    in_flight: int = 0

    def debts(self, now: int) -> tuple[int, int]:
        elapsed = max(0, now - self.last)
        rpm = 0 if self.rpm is None else max(0, self.rpm_debt - self.rpm * elapsed)
        tpm = 0 if self.tpm is None else max(0, self.tpm_debt - self.tpm * elapsed)
        return rpm, tpm

    def advance(self, now: int) -> None:
        self.rpm_debt, self.tpm_debt = self.debts(now)
        self.last = max(self.last, now)


@dataclass
class Model:
    entities: dict[str, Entity] = field(default_factory=dict)
    # ticket -> (reserved tokens, [(entity id, tokens reserved on it)])
    tickets: dict[int, tuple[int, list[tuple[str, bool]]]] = field(default_factory=dict)

    def acquire(
        self, claims: list[Claim], tokens: int, now: int
    ) -> tuple[str, str, float] | list[tuple[str, bool]]:
        charged: list[Claim] = []
        worst: tuple[str, str, int] | None = None
        for claim in claims:
            entity_id, rpm, tpm, max_parallel = claim
            if (rpm, tpm, max_parallel) == (None, None, None) or entity_id in {
                c[0] for c in charged
            }:
                continue
            charged.append(claim)
            e = self.entities.get(entity_id, Entity(last=now))
            rpm_debt, tpm_debt = e.debts(now)
            waits = [
                (
                    "parallel",
                    PARALLEL_US if max_parallel is not None and e.in_flight >= max_parallel else 0,
                ),
                ("rpm", 0 if rpm is None else wait_us(rpm_debt, rpm, 1, e.rpm)),
                ("tpm", 0 if tpm is None else wait_us(tpm_debt, tpm, tokens, e.tpm)),
            ]
            for kind, wait in waits:
                if wait > 0 and (worst is None or wait > worst[2]):
                    worst = (entity_id, kind, wait)
        if worst is not None:
            return worst[0], worst[1], worst[2] / 1e6
        members = []
        for entity_id, rpm, tpm, max_parallel in charged:
            e = self.entities.setdefault(entity_id, Entity(last=now))
            e.advance(now)
            e.rpm, e.tpm, e.max_parallel = rpm, tpm, max_parallel
            e.rpm_debt = 0 if rpm is None else e.rpm_debt + UNITS
            e.tpm_debt = 0 if tpm is None else e.tpm_debt + tokens * UNITS
            e.in_flight += 1
            members.append((entity_id, tpm is not None))
        return members

    def release(self, ticket: int, used: int, now: int) -> None:
        reserved, members = self.tickets.pop(ticket)
        for entity_id, tpm in members:
            e = self.entities[entity_id]
            e.advance(now)
            e.in_flight -= 1
            if tpm and e.tpm is not None:
                e.tpm_debt = max(0, e.tpm_debt + (used - reserved) * UNITS)

    def in_flight(self, entity_id: str) -> int:
        e = self.entities.get(entity_id)
        return 0 if e is None else e.in_flight


IDS = ["key:a", "user:b", "team:c"]
claims_strategy = st.lists(
    st.tuples(
        st.sampled_from(IDS),
        st.none() | st.integers(0, 6),
        st.none() | st.integers(0, 400),
        st.none() | st.integers(0, 3),
    ),
    max_size=4,
)
# Milliseconds to move the clock by: often not at all, sometimes past a whole minute.
steps = st.sampled_from([0, 0, 1, 250, 1_000, 7_500, 30_000, 61_000]) | st.integers(0, 90_000)


class LimiterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.limiter = Limiter()
        self.model = Model()
        self.now_ms = 0
        self.closed: list[int] = []

    def now(self, step_ms: int) -> float:
        self.now_ms += step_ms
        return self.now_ms / 1000

    @rule(claims=claims_strategy, tokens=st.integers(0, 600), step=steps)
    def acquire(self, claims: list[Claim], tokens: int, step: int) -> None:
        now = self.now(step)
        got = self.limiter.acquire(claims, tokens, now=now)
        expected = self.model.acquire(claims, tokens, micros(now))
        if isinstance(expected, tuple):
            event(f"refused on {expected[1]}")
            assert refused(got) == expected
            return
        event(f"admitted against {len(expected)} entities")
        assert isinstance(got, int)
        assert got > 0
        assert got not in self.model.tickets
        self.model.tickets[got] = (tokens, expected)
        # An id listed twice is charged once, under its first limits.
        first: dict[str, int | None] = {}
        for entity_id, rpm, tpm, max_parallel in claims:
            if (rpm, tpm, max_parallel) != (None, None, None):
                first.setdefault(entity_id, max_parallel)
        for entity_id, max_parallel in first.items():
            if max_parallel is not None:
                assert self.limiter.in_flight(entity_id) <= max_parallel

    @precondition(lambda self: bool(self.model.tickets))
    @rule(data=st.data(), used=st.integers(0, 900), step=steps)
    def release(self, data: st.DataObject, used: int, step: int) -> None:
        ticket = data.draw(st.sampled_from(sorted(self.model.tickets)))
        now = self.now(step)
        assert self.limiter.release(ticket, used, now=now)
        self.model.release(ticket, used, micros(now))
        self.closed.append(ticket)

    @rule(data=st.data())
    def release_again_or_unknown(self, data: st.DataObject) -> None:
        stale = data.draw(
            st.sampled_from(self.closed) if self.closed else st.integers(0, 2**64 - 1)
        )
        if stale in self.model.tickets:
            return
        assert not self.limiter.release(stale, 0, now=self.now_ms / 1000)

    @invariant()
    def in_flight_matches_the_model(self) -> None:
        assert self.limiter.in_flight_total() == len(self.model.tickets)
        for entity_id in IDS:
            assert self.limiter.in_flight(entity_id) == self.model.in_flight(entity_id)
        busy = sum(1 for e in self.model.entities.values() if e.in_flight)
        assert busy <= self.limiter.tracked() <= len(self.model.entities)

    def teardown(self) -> None:
        for ticket in list(self.model.tickets):
            assert self.limiter.release(ticket, 0, now=self.now_ms / 1000)
            self.model.release(ticket, 0, micros(self.now_ms / 1000))
        assert self.limiter.in_flight_total() == 0
        assert all(self.limiter.in_flight(e) == 0 for e in IDS)


TestLimiterMachine = LimiterMachine.TestCase
TestLimiterMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
