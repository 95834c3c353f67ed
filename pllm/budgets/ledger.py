"""Budget admission: reserve a request's worst-case cost up front, settle the real cost after.

Why reserve: spend is only known when a request ends, so checking spent < max alone lets
every request that starts before the first one ends through (200 concurrent requests against
a budget of 10 would all pass). Holding each admitted request's maximum cost as ``reserved``
until it settles bounds the overshoot to the last request admitted: a request is admitted
iff ``spent + reserved < max_budget`` for every budget it is subject to.

Spent, per entity and current period, is ``db_spent + unflushed``:

* ``db_spent``: the period's total as last read from the database (``sync``), which
  includes other workers' spend, plus what this worker has flushed since (``on_flushed``).
* ``unflushed``: costs settled here whose spend records are not committed yet.

The spend writer must call ``on_flushed`` after committing a batch and ``sync`` with totals
read after that: a total read before a commit and applied after its ``on_flushed``
undercounts that batch until the next ``sync``.

Costs settled for a request reserved in an earlier period are kept apart (``stale``): the
database books them under the earlier period's days, and ``on_flushed`` removes them first
so that their flush is not taken for the current period's.

One lock guards all state; nothing in it awaits or calls out, and alert callbacks run after
it is released, so a callback may use the ledger.

With several instances sharing a Redis, ``cluster`` (:class:`pllm.cluster.budgets.BudgetLeases`)
adds a second condition to a reservation: the request's maximum cost must fit in this
instance's lease of the budget's headroom, which holds every budget across instances to within
one request. It is consulted only while Redis is reachable; without it, this module's check
alone is today's per-instance behaviour.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pllm.budgets.periods import period_end, period_start
from pllm.principal import Budget, BudgetPeriod

log = logging.getLogger(__name__)

AlertKind = Literal["soft", "exceeded"]

# Float sums that should cancel leave crumbs like 1e-17; below this an amount is nothing.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """Settled spend crossed ``soft_budget`` ("soft") or ``max_budget`` ("exceeded")."""

    entity: str
    spent: float
    soft_budget: float | None
    max_budget: float
    period: BudgetPeriod
    kind: AlertKind = "soft"


@dataclass(frozen=True, slots=True)
class BudgetExceeded:
    """Why a request was refused: the first budget it is subject to that had no room."""

    entity: str
    max_budget: float
    spent: float
    period: BudgetPeriod
    # Held by requests in flight; spent + reserved reached max_budget.
    reserved: float = 0.0
    # UNIX seconds when the period ends and spend starts again from 0; None: never.
    resets_at: float | None = None
    # Refused by this process's lease of the headroom, not by the budget itself: a refill has
    # been asked for, and the request may be tried again once it is in (Gate, path).
    leasing: bool = False


class ClusterBudgets(Protocol):
    """What the ledger asks of :class:`pllm.cluster.budgets.BudgetLeases` (under its lock)."""

    def online(self) -> bool: ...

    def covers(self, budget: Budget, start: float, max_cost: float) -> bool: ...

    def take(self, budget: Budget, start: float, max_cost: float) -> None: ...

    def give(self, budget: Budget, max_cost: float, cost: float, current: bool) -> None: ...

    def synced(self, entity: str, start: float, db_spent: float) -> None: ...

    async def prefetch(self, budgets: Sequence[Budget]) -> None: ...

    async def refilled(self, patience: float) -> None:
        """Returns once the leases asked for have been answered (or after ``patience`` s)."""
        ...


class Reservation:
    """An admitted request's hold on its budgets until ``settle`` or ``cancel``."""

    __slots__ = ("_settled", "at", "budgets", "leased", "max_cost")

    def __init__(
        self, budgets: tuple[Budget, ...], max_cost: float, at: float, leased: bool = False
    ) -> None:
        self.budgets = budgets
        self.max_cost = max_cost
        self.at = at
        # Taken from the cluster's leases too (Redis was reachable).
        self.leased = leased
        self._settled = False

    @property
    def settled(self) -> bool:
        return self._settled

    def __repr__(self) -> str:
        entities = ", ".join(b.entity for b in self.budgets)
        return f"Reservation([{entities}], max_cost={self.max_cost}, settled={self._settled})"


class _Entity:
    """Spend state of one entity in its current period."""

    __slots__ = (
        "db_spent",
        "end",
        "inflight",
        "max_alerted",
        "period",
        "reserved",
        "seen",
        "soft_alerted",
        "stale",
        "start",
        "synced",
        "unflushed",
    )

    def __init__(self, period: BudgetPeriod, now: float) -> None:
        self.period = period
        self.start = period_start(period, now)
        self.end = period_end(period, now)
        self.db_spent = 0.0
        self.unflushed = 0.0
        self.stale = 0.0
        self.reserved = 0.0
        # Counting holds lets the last release zero ``reserved`` instead of leaving crumbs.
        self.inflight = 0
        self.soft_alerted = False
        self.max_alerted = False
        self.synced = False
        self.seen = now

    def roll(self, period: BudgetPeriod, now: float) -> None:
        """Move to the period containing ``now``; in-flight reservations stay held."""
        if period == self.period or now >= self.end:
            self.stale += self.unflushed
            self.unflushed = 0.0
            self.db_spent = 0.0
        # A changed period keeps its numbers until the next sync: the same spend, counted
        # from another start, is a better guess than nothing.
        self.period = period
        self.start = period_start(period, now)
        self.end = period_end(period, now)
        self.soft_alerted = False
        self.max_alerted = False
        self.synced = False

    def idle(self, now: float, horizon: float) -> bool:
        return (
            now - self.seen > horizon
            and self.inflight == 0
            and self.unflushed <= _EPSILON
            and self.stale <= _EPSILON
        )


class BudgetLedger:
    """In-process budget state of one worker. Thread-safe; every call is short and sync.

    ``track_for``: seconds after its last request that an entity stays in ``tracked()``.
    ``max_entities``: above this many entities, idle ones are forgotten by ``tracked()``.
    """

    def __init__(
        self,
        on_alert: Callable[[BudgetAlert], None] | None = None,
        clock: Callable[[], float] = time.time,
        *,
        track_for: float = 3600.0,
        max_entities: int = 100_000,
    ) -> None:
        self._on_alert = on_alert
        self._clock = clock
        self._track_for = track_for
        self._max_entities = max_entities
        self._entities: dict[str, _Entity] = {}
        # Totals synced before the entity's first request: (period start, db_spent).
        self._seeds: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        # Several instances sharing a Redis: their leases of each budget's headroom.
        self.cluster: ClusterBudgets | None = None

    def reserve(self, budgets: Sequence[Budget], max_cost: float) -> Reservation | BudgetExceeded:
        """Hold ``max_cost`` on every budget, or on none if any of them has no room."""
        if not max_cost >= 0.0:
            raise ValueError(f"max_cost must be a non-negative number, not {max_cost!r}")
        held = budgets if isinstance(budgets, tuple) else tuple(budgets)
        now = self._clock()
        entities = self._entities
        with self._lock:
            for b in held:
                e = entities.get(b.entity)
                if e is None:
                    e = self._new(b.entity, b.period, now)
                elif now >= e.end or e.period != b.period:
                    e.roll(b.period, now)
                spent = e.db_spent + e.unflushed
                if spent + e.reserved >= b.max_budget:
                    e.seen = now
                    return BudgetExceeded(
                        b.entity,
                        b.max_budget,
                        spent,
                        e.period,
                        e.reserved,
                        None if math.isinf(e.end) else e.end,
                    )
            cluster = self.cluster
            if cluster is not None and cluster.online():
                for b in held:
                    e = entities[b.entity]
                    if not cluster.covers(b, e.start, max_cost):
                        e.seen = now
                        spent = e.db_spent + e.unflushed
                        end = None if math.isinf(e.end) else e.end
                        return BudgetExceeded(
                            b.entity, b.max_budget, spent, e.period, e.reserved, end, leasing=True
                        )
                for b in held:
                    cluster.take(b, entities[b.entity].start, max_cost)
            for b in held:
                e = entities[b.entity]
                e.reserved += max_cost
                e.inflight += 1
                e.seen = now
        return Reservation(held, max_cost, now, cluster is not None and cluster.online())

    def settle(self, reservation: Reservation, actual_cost: float) -> None:
        """Release the hold and count ``actual_cost`` as spent. A second call does nothing."""
        if reservation._settled:
            return
        # NaN or negative costs come from broken usage reports; they must not free budget.
        cost = actual_cost if actual_cost > 0.0 else 0.0
        now = self._clock()
        alerts: list[BudgetAlert] | None = None
        entities = self._entities
        with self._lock:
            if reservation._settled:
                return
            reservation._settled = True
            for b in reservation.budgets:
                e = entities.get(b.entity)
                if e is None:
                    # Only forgotten if idle with nothing held; kept for robustness.
                    e = self._new(b.entity, b.period, now)
                else:
                    if now >= e.end:
                        e.roll(e.period, now)
                    e.inflight -= 1
                    if e.inflight > 0:
                        e.reserved -= reservation.max_cost
                    else:
                        e.inflight = 0
                        e.reserved = 0.0
                e.seen = now
                if reservation.leased and self.cluster is not None:
                    current = reservation.at >= e.start
                    self.cluster.give(b, reservation.max_cost, cost, current)
                if cost == 0.0:
                    continue
                if reservation.at < e.start:
                    e.stale += cost
                    continue
                e.unflushed += cost
                spent = e.db_spent + e.unflushed
                soft = b.soft_budget
                if soft is not None and not e.soft_alerted and spent >= soft:
                    e.soft_alerted = True
                    if self._on_alert is not None:
                        alerts = alerts or []
                        alerts.append(
                            BudgetAlert(b.entity, spent, soft, b.max_budget, e.period, "soft")
                        )
                if not e.max_alerted and spent >= b.max_budget:
                    e.max_alerted = True
                    if self._on_alert is not None:
                        alerts = alerts or []
                        alerts.append(
                            BudgetAlert(b.entity, spent, soft, b.max_budget, e.period, "exceeded")
                        )
        if alerts:
            self._emit(alerts)

    def cancel(self, reservation: Reservation) -> None:
        """Release the hold of a request that never reached a provider."""
        self.settle(reservation, 0.0)

    def on_flushed(self, costs: Mapping[str, float]) -> None:
        """The spend writer committed records costing this much per entity."""
        now = self._clock()
        entities = self._entities
        with self._lock:
            for entity, amount in costs.items():
                e = entities.get(entity)
                if e is None or not amount > 0.0:
                    continue
                if now >= e.end:
                    e.roll(e.period, now)
                if e.stale > 0.0:
                    if amount <= e.stale:
                        e.stale -= amount
                        continue
                    amount -= e.stale
                    e.stale = 0.0
                # More than was pending here (records from before a restart, say) is in the
                # database all the same.
                e.unflushed = max(e.unflushed - amount, 0.0)
                e.db_spent += amount

    def sync(self, entity: str, period_start: float, db_spent: float) -> None:
        """Set the database's spend of ``entity`` since ``period_start`` (from ``tracked``).

        Ignored when that is no longer the entity's current period. For an entity without
        requests yet the total is kept for its first request, so that a principal's budgets
        can be read as it is loaded.
        """
        now = self._clock()
        with self._lock:
            if self.cluster is not None:
                self.cluster.synced(entity, period_start, db_spent)
            e = self._entities.get(entity)
            if e is None:
                seeds = self._seeds
                seeds.pop(entity, None)
                if len(seeds) >= self._max_entities:
                    del seeds[next(iter(seeds))]
                seeds[entity] = (period_start, db_spent)
                return
            if now >= e.end:
                e.roll(e.period, now)
            if e.start != period_start:
                return
            e.db_spent = db_spent
            e.synced = True

    def tracked(self) -> list[tuple[str, BudgetPeriod, float]]:
        """(entity, period, current period start) of the entities the writer should sync."""
        now = self._clock()
        horizon = self._track_for
        out: list[tuple[str, BudgetPeriod, float]] = []
        with self._lock:
            entities = self._entities
            if len(entities) > self._max_entities:
                # A forgotten entity that comes back counts from 0 until its first sync.
                for name in [n for n, e in entities.items() if e.idle(now, horizon)]:
                    del entities[name]
            for name, e in entities.items():
                if now >= e.end:
                    e.roll(e.period, now)
                if e.idle(now, horizon):
                    # Its last db_spent stays: a better guess than 0 if it comes back.
                    e.synced = False
                    continue
                out.append((name, e.period, e.start))
        return out

    def spent(self, entity: str) -> float:
        """Spend of ``entity`` in its current period as this worker sees it."""
        now = self._clock()
        with self._lock:
            e = self._entities.get(entity)
            if e is None:
                return 0.0
            if now >= e.end:
                e.roll(e.period, now)
            return e.db_spent + e.unflushed

    def reserved(self, entity: str) -> float:
        """Held by admitted requests of ``entity`` that have not settled."""
        with self._lock:
            e = self._entities.get(entity)
            return 0.0 if e is None else e.reserved

    def synced(self, entity: str) -> bool:
        """Whether ``entity``'s current-period total has been read from the database.

        Until then only this worker's spend counts, which a caller may not want to trust
        for an entity it has never seen (e.g. right after a restart).
        """
        now = self._clock()
        with self._lock:
            e = self._entities.get(entity)
            if e is None:
                return entity in self._seeds
            if now >= e.end:
                e.roll(e.period, now)
            return e.synced

    def _new(self, entity: str, period: BudgetPeriod, now: float) -> _Entity:
        e = self._entities[entity] = _Entity(period, now)
        if self._seeds:
            seed = self._seeds.pop(entity, None)
            if seed is not None and seed[0] == e.start:
                e.db_spent = seed[1]
                e.synced = True
        return e

    def _emit(self, alerts: list[BudgetAlert]) -> None:
        on_alert = self._on_alert
        if on_alert is None:
            return
        for alert in alerts:
            try:
                on_alert(alert)
            except Exception:
                # The spend is counted either way; a failing alert hook must not fail a request.
                log.exception("budget alert handler failed for %s", alert.entity)
