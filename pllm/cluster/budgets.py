"""Budgets held across instances to within one request, with no Redis round trip on a request.

Each instance's :class:`pllm.budgets.ledger.BudgetLedger` reserves a request's maximum cost
against ``spent + reserved < max_budget`` as it sees them; alone, each instance sees the
others' spend only through the database (synced every second), so N instances could each
admit up to the whole remaining budget. With Redis, each instance also holds a **lease** of
headroom per budget (entity and period) and admits a request only if the request's maximum
cost fits in what is left of its lease (``lease - reserved here >= max_cost``): a plain
comparison under the ledger's lock, so :meth:`pllm.tenancy.gate.Gate.admit` stays synchronous.

Redis holds, per entity and period start, ``spent`` (settled costs the instances reported,
raised to the database's total whenever an instance passes a fresher one: the database stays
the source of truth) and ``held`` (headroom leased out and not yet spent or given back). The
Lua script :data:`_LEASE` grants ``min(wanted, max_budget - spent - held)``, and when that is
less than the request waiting for it (``need``) but more than 0, it grants ``need``: the one
grant that may cross ``max_budget``, after which nothing is left to grant. Settled costs move
from ``held`` to ``spent`` (:data:`_REPORT`), unused headroom goes back when an entity has
been idle for ``_IDLE`` seconds (all but twice its last request's maximum cost, so that its
next request here is not refused), when its period ends, or when a lease is too short for a
request and Redis has no more (so that another instance can use it).

Error bound, per budget and period, at any number of instances: what the instances reserve
never exceeds what Redis granted, and Redis grants past ``max_budget`` once, by less than one
request's maximum cost: **spend stays below ``max_budget`` plus one request**, the same bound
one instance alone has. A request whose maximum cost does not fit in this instance's lease
waits for the refill it asks for (:meth:`BudgetLeases.refilled`, one round trip, at most
0.5 s) and is admitted once more: the only time a request waits on the store. Errs low when
the headroom it needs is leased to another instance; an instance fetches its first lease when a
principal is loaded (:meth:`BudgetLeases.prefetch`), so a key's first request does not meet
an empty lease; an idle instance keeps two requests' worth, and one that dies keeps what it
held from the others until the period ends (at most ``remaining / (2 * instances)``, or two
requests once idle). After a Redis restart ``held`` is lost: leases outstanding at that moment
(each at most ``max(2 requests, remaining / (2 * instances))``) may be granted twice once.

Commands: one ``EVALSHA`` per lease (a lease covers about ``remaining / (2 * instances)``
worth of requests, so near the end of a budget one per request) and one per batch of settled
requests (pipelined, every refill), none on a request's path.

Redis down: the ledger's own check alone, as without Redis (the link logs the outage once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pllm.budgets.periods import period_start
from pllm.cluster.link import PREFIX, Link
from pllm.principal import Budget

log = logging.getLogger("pllm.cluster")
_monotonic = time.monotonic

# Seconds without a request after which an entity's unused lease goes back.
_IDLE = 5.0
# How often idle leases are looked for.
_SWEEP = 1.0
# Keys outlive the longest period (a month) and are refreshed on every lease.
_TTL = 40 * 24 * 3600
_MAX_SYNCED = 100_000

# KEYS[1]: the budget's hash. ARGV: max_budget, want, need, the database's spent.
_LEASE = """
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
local db = tonumber(ARGV[4])
if db > spent then
  spent = db
  redis.call('HSET', KEYS[1], 'spent', tostring(db))
end
local room = tonumber(ARGV[1]) - spent - held
local grant = 0
if room > 0 then
  grant = math.min(tonumber(ARGV[2]), room)
  if grant < tonumber(ARGV[3]) then
    grant = tonumber(ARGV[3])
  end
  redis.call('HINCRBYFLOAT', KEYS[1], 'held', tostring(grant))
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {tostring(grant), tostring(spent), tostring(held + grant)}
"""
# KEYS[1]: the budget's hash. ARGV: settled cost, headroom given back.
_REPORT = """
local cost = tonumber(ARGV[1])
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0') - cost - tonumber(ARGV[2])
if held < 0 then held = 0 end
redis.call('HSET', KEYS[1], 'held', tostring(held))
if cost > 0 then redis.call('HINCRBYFLOAT', KEYS[1], 'spent', tostring(cost)) end
return tostring(held)
"""


class LeaseStore(Protocol):
    """Where the leases come from: Redis for instances (:class:`RedisLeases`), a file in the
    workers' shared directory for the workers of one host
    (:class:`pllm.cluster.host_leases.HostLeases`); both apply the same arithmetic
    atomically (``_LEASE``, ``_REPORT``)."""

    def online(self) -> bool: ...

    def ok(self) -> None: ...

    def failed(self, error: BaseException) -> None: ...

    def retry_in(self) -> float: ...

    async def exchange(
        self, reports: list[tuple[str, float, float]], leases: list[Lease]
    ) -> list[tuple[float, float]]:
        """Applies ``reports`` (key, settled cost, headroom given back), then grants each of
        ``leases`` (key, max_budget, want, need, the database's spent): ``(granted, spent)``
        per lease, in order."""
        ...


# (key, max_budget, want, need, the database's spent)
Lease = tuple[str, float, float, float, float]


class RedisLeases:
    """Leases from the Redis of :class:`Link`: one pipeline of Lua scripts per exchange."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._scripts: tuple[Any, Any] | None = None

    def online(self) -> bool:
        return self.link.up is not False

    def ok(self) -> None:
        self.link.ok()

    def failed(self, error: BaseException) -> None:
        self.link.failed(error)

    def retry_in(self) -> float:
        return self.link.retry_in()

    async def exchange(
        self, reports: list[tuple[str, float, float]], leases: list[Lease]
    ) -> list[tuple[float, float]]:
        client = self.link.client
        if self._scripts is None:
            self._scripts = (client.register_script(_LEASE), client.register_script(_REPORT))
        lease, report = self._scripts
        pipe = client.pipeline(transaction=False)
        for key, cost, returned in reports:
            await report(keys=[key], args=[repr(cost), repr(returned)], client=pipe)
        for key, max_budget, want, need, db_spent in leases:
            args: list[str | int] = [repr(max_budget), repr(want), repr(need), repr(db_spent), _TTL]
            await lease(keys=[key], args=args, client=pipe)
        answers = await pipe.execute()
        return [(float(a[0]), float(a[1])) for a in answers[len(reports) :]]


def _key(entity: str, start: float) -> str:
    return f"{PREFIX}bg:{entity}:{start:.0f}"


class _Share:
    """This instance's lease of one entity's budget in one period."""

    __slots__ = (
        "asked",
        "db_spent",
        "key",
        "last",
        "lease",
        "max_budget",
        "need",
        "reserved",
        "seen",
        "start",
    )

    def __init__(self, key: str, start: float, max_budget: float) -> None:
        self.key = key
        self.start = start
        self.max_budget = max_budget
        # Headroom granted and not yet spent (settled) or given back.
        self.lease = 0.0
        # Maximum costs of this instance's requests in flight.
        self.reserved = 0.0
        # The largest request refused for want of lease: the next grant covers it.
        self.need = 0.0
        # The maximum cost of its latest request.
        self.last = 0.0
        self.db_spent = 0.0
        self.asked = False
        self.seen = time.monotonic()

    def free(self) -> float:
        return self.lease - self.reserved


class BudgetLeases:
    """The cluster side of :class:`pllm.budgets.ledger.BudgetLedger` (its ``cluster``):
    ``covers``/``take``/``give``/``synced`` are called under the ledger's lock and never wait;
    ``refill`` is the background task."""

    def __init__(self, store: LeaseStore, instances: Callable[[], int]) -> None:
        self.store = store
        self.instances = instances
        self._shares: dict[str, _Share] = {}
        self._wanted: dict[str, _Share] = {}
        # Per hash: (settled cost, headroom given back) not yet told to Redis.
        self._reports: dict[str, list[float]] = {}
        # The database's latest totals: (period start, spent) per entity.
        self._db: dict[str, tuple[float, float]] = {}
        self._wake = asyncio.Event()
        # Resolved when the exchange under way (or the next one) ends: see refilled().
        self._round: asyncio.Future[None] | None = None

    def online(self) -> bool:
        return self.store.online()

    # --- under the ledger's lock ----------------------------------------------------------

    def covers(self, budget: Budget, start: float, max_cost: float) -> bool:
        share = self._share(budget, start)
        share.seen = _monotonic()
        share.last = max_cost
        if share.lease - share.reserved >= max_cost:
            return True
        share.need = max(share.need, max_cost)
        self._want(share)
        return False

    def take(self, budget: Budget, start: float, max_cost: float) -> None:
        share = self._share(budget, start)
        share.reserved += max_cost
        if share.lease - share.reserved < 2 * max_cost:
            self._want(share)

    def give(self, budget: Budget, max_cost: float, cost: float, current: bool) -> None:
        """A request reserved through ``take`` settled at ``cost``; ``current``: in the
        period it was reserved in (else its period's lease already went back whole, and the
        database books its cost to that period)."""
        share = self._shares.get(budget.entity)
        if share is None or not current:
            return
        share.reserved = max(0.0, share.reserved - max_cost)
        share.lease -= cost
        if cost > 0.0:
            pending = self._reports.get(share.key)
            if pending is None:
                self._report(share.key, cost, 0.0)
            else:
                pending[0] += cost

    def synced(self, entity: str, start: float, db_spent: float) -> None:
        """The database's total of ``entity`` since ``start``, for the next lease to pass."""
        self._db[entity] = (start, db_spent)
        if len(self._db) > _MAX_SYNCED:
            del self._db[next(iter(self._db))]
        share = self._shares.get(entity)
        if share is not None and share.key == _key(entity, start):
            share.db_spent = db_spent

    # --- background -----------------------------------------------------------------------

    async def prefetch(self, budgets: Sequence[Budget]) -> None:
        """Leases headroom for a principal's budgets as it is loaded (after the database's
        totals were synced), so that its first request does not meet an empty lease. Redis
        failing here is logged by the link and leaves the ledger's own check."""
        now = time.time()
        for budget in budgets:
            share = self._share(budget, period_start(budget.period, now))
            if share.lease <= 0.0:
                self._want(share)
        try:
            await self.refill_once()
            self.store.ok()
        except Exception as e:
            self.store.failed(e)

    def _share(self, budget: Budget, start: float) -> _Share:
        share = self._shares.get(budget.entity)
        if share is not None and share.start == start:
            share.max_budget = budget.max_budget
            return share
        key = _key(budget.entity, start)
        if share is None or share.key != key:
            if share is not None:
                # A new period: the old one's lease goes back whole.
                self._report(share.key, 0.0, max(0.0, share.lease))
            share = self._shares[budget.entity] = _Share(key, start, budget.max_budget)
            synced = self._db.get(budget.entity)
            if synced is not None and synced[0] == start:
                share.db_spent = synced[1]
        share.max_budget = budget.max_budget
        return share

    def _want(self, share: _Share) -> None:
        if not share.asked:
            share.asked = True
            self._wanted[share.key] = share
            self._wake.set()

    def _report(self, key: str, cost: float, returned: float) -> None:
        pending = self._reports.setdefault(key, [0.0, 0.0])
        pending[0] += cost
        pending[1] += returned
        self._wake.set()

    def _sweep(self) -> None:
        """Idle leases go back, but for what the entity's next request needs (twice its
        last one's maximum cost), so that it is not refused for waiting on a refill."""
        idle = time.monotonic() - _IDLE
        for share in self._shares.values():
            if share.seen < idle and share.reserved == 0.0:
                excess = share.lease - 2 * share.last
                if excess > 0.0:
                    self._report(share.key, 0.0, excess)
                    share.lease -= excess

    async def refilled(self, patience: float) -> None:
        """Waits for the next exchange with the lease store to end (a request refused for
        want of lease is tried once more then), at most ``patience`` seconds."""
        if self._round is None or self._round.done():
            self._round = asyncio.get_running_loop().create_future()
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._round), patience)

    async def refill_once(self) -> None:
        """Asks for every lease wanted and reports settled costs, in one pipeline."""
        round_, self._round = self._round, None
        try:
            await self._exchange()
        finally:
            if round_ is not None and not round_.done():
                round_.set_result(None)

    async def _exchange(self) -> None:
        if not self._wanted and not self._reports:
            return
        wanted = list(self._wanted.values())
        reports = list(self._reports.items())
        self._wanted.clear()
        self._reports.clear()
        instances = max(1, self.instances())
        leases = []
        for share in wanted:
            remaining = share.max_budget - share.db_spent
            want = max(2 * share.need, remaining / (2 * instances), 0.0)
            leases.append((share.key, share.max_budget, want, share.need, share.db_spent))
        try:
            answers = await self.store.exchange(
                [(key, cost, returned) for key, (cost, returned) in reports], leases
            )
        except BaseException:
            for share in wanted:
                self._wanted[share.key] = share
            for key, (cost, returned) in reports:
                self._report(key, cost, returned)
            raise
        for share, (granted, spent) in zip(wanted, answers, strict=True):
            share.asked = False
            share.lease += granted
            share.db_spent = max(share.db_spent, spent)
            if granted < share.need and share.free() > 0.0:
                # Too short for the request waiting, and Redis has no more: what is left
                # goes back, for an instance that can use it.
                self._report(share.key, 0.0, share.free())
                share.lease = share.reserved
            share.need = 0.0

    async def refill(self) -> None:
        """Runs until cancelled: leases as asked, reports, gives idle leases back."""
        swept = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _SWEEP)
            self._wake.clear()
            if time.monotonic() - swept >= _SWEEP:
                swept = time.monotonic()
                self._sweep()
            try:
                await self.refill_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.store.failed(e)
                await asyncio.sleep(self.store.retry_in())
                self._wake.set()
