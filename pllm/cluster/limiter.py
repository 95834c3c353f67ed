"""Rate limits (rpm, tpm) exact across instances, with no Redis round trip on a request.

Same interface as :class:`pllm_accel.Limiter`, so the gate (keys, users, groups) and the
router (deployments) use it unchanged. Each instance leases small batches of every limit
from Redis and admits from its lease locally; a background task refills a lease once it
runs low, before it runs out. The Lua script (:data:`_LEASE`) does a sliding-window count
atomically: the current minute's count plus the previous minute's weighted by how much of
it is still inside the window, and grants ``min(wanted, limit - that)`` by adding it to the
current minute at once (a lease is spent when taken, used or not).

Batch size: ``max(1, limit // (8 * instances))``. Error bound, per limit and window:

* leases are debited when taken, so what the instances admit from them never exceeds the
  limit; unused credit is lost, which only errs low (at most one batch per instance);
* an instance's first request of an entity is admitted before its first lease answers (it
  must not wait): one request per instance that meets the entity for the first time when its
  window is already full; tpm admits while any credit is left (the reply's size is only
  known at the end): at most one request's tokens per instance over;
* credit leased in one minute and used just after it turned counts against the earlier
  minute: at most one batch per instance, ``instances * batch <= limit / 8``.

At 3 instances and rpm 30 (batch 1) that is at most +3 at a minute's turn and 0 within it.

Commands per request: none on the path; the refills cost one ``EVALSHA`` per batch, that is
``8 * instances / limit`` per request per limit (pipelined with the other leases wanted).
Parallel limits (``max_parallel_requests``) stay per instance: a counter in Redis would need
two round trips per request (take and give back) and a lost give-back on a crash holds a
slot forever; a local count is exact for what one instance can see.

When Redis is down each instance enforces ``limit // instances`` (at least 1) of every limit
with the local :class:`pllm_accel.Limiter`, never unlimited and never refusing everything.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import pllm_accel
from pllm.cluster.link import PREFIX, Link

log = logging.getLogger("pllm.cluster")

Entity = tuple[str, int | None, int | None, int | None]

WINDOW = 60
_LEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local win = tonumber(ARGV[3])
local idx = math.floor(now / win)
local cur = KEYS[1] .. ':' .. idx
local c = tonumber(redis.call('GET', cur) or '0')
local p = tonumber(redis.call('GET', KEYS[1] .. ':' .. (idx - 1)) or '0')
local used = p * (1 - (now - idx * win) / win) + c
local room = math.floor(limit - used)
local grant = math.max(0, math.min(want, room))
if grant > 0 then
  redis.call('INCRBY', cur, grant)
  redis.call('EXPIRE', cur, win * 2 + 1)
end
return {grant, room - grant}
"""


class _Lease:
    """This instance's credit on one limit of one entity."""

    __slots__ = ("asked", "credit", "entity", "fresh", "kind", "limit")

    def __init__(self, entity: str, kind: str, limit: int) -> None:
        self.entity = entity
        self.kind = kind
        self.limit = limit
        self.credit = 0
        # Until its first lease answers: may admit once on credit (see the module docstring).
        self.fresh = True
        self.asked = False


def _covers(lease: _Lease, tokens: int) -> bool:
    """Whether the lease admits one more request: a whole credit for rpm, any for tpm (the
    reply's size is only known at the end), or the first request before any lease."""
    if lease.fresh and lease.credit >= 0:
        return True
    return lease.credit >= 1 if lease.kind == "rpm" else lease.credit > 0


class ClusterLimiter:
    """``acquire``/``release``/``in_flight``/``in_flight_total``/``tracked`` as
    :class:`pllm_accel.Limiter`; ``refill`` is the background task that keeps leases up."""

    def __init__(self, link: Link, instances: Callable[[], int]) -> None:
        self.link = link
        self.instances = instances
        # Parallel limits and in-flight counts always; rpm/tpm while Redis is down.
        self._local = pllm_accel.Limiter()
        # Makes the Refusal objects callers expect (a limit of 0 always refuses).
        self._refuser = pllm_accel.Limiter()
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._tickets: dict[int, tuple[int, tuple[_Lease, ...], int]] = {}
        self._ids = itertools.count(1)
        self._wanted: dict[tuple[str, str], _Lease] = {}
        self._wake = asyncio.Event()
        self._script: Any = None

    def online(self) -> bool:
        return self.link.up is not False

    def share(self, limit: int | None) -> int | None:
        return None if limit is None else max(1, limit // max(1, self.instances()))

    def acquire(
        self, entities: Sequence[Entity], tokens: int, now: float | None = None
    ) -> int | pllm_accel.Refusal:
        if not self.online():
            scaled = [(e, self.share(rpm), self.share(tpm), par) for e, rpm, tpm, par in entities]
            local = self._local.acquire(scaled, tokens)
            if isinstance(local, pllm_accel.Refusal):
                return local
            ticket = next(self._ids)
            self._tickets[ticket] = (local, (), tokens)
            return ticket
        taken: list[_Lease] = []
        for entity, rpm, tpm, _ in entities:
            for kind, limit in (("rpm", rpm), ("tpm", tpm)):
                if limit is None:
                    continue
                lease = self._lease(entity, kind, limit)
                if not _covers(lease, tokens):
                    self._want(lease)
                    return self._refuse(entity, kind)
                taken.append(lease)
        local = self._local.acquire([(e, None, None, par) for e, _, _, par in entities], tokens)
        if isinstance(local, pllm_accel.Refusal):
            return local
        for lease in taken:
            lease.credit -= 1 if lease.kind == "rpm" else tokens
            if lease.credit < self._batch(lease) // 2 + 1:
                self._want(lease)
        ticket = next(self._ids)
        self._tickets[ticket] = (local, tuple(t for t in taken if t.kind == "tpm"), tokens)
        return ticket

    def release(self, ticket: int, tokens_used: int = 0, now: float | None = None) -> bool:
        held = self._tickets.pop(ticket, None)
        if held is None:
            return False
        local, tpm_leases, tokens = held
        self._local.release(local, tokens_used)
        for lease in tpm_leases:
            # The estimate was taken; the real count is what the window should have seen.
            lease.credit += tokens - tokens_used
        return True

    def in_flight(self, entity: str) -> int:
        return self._local.in_flight(entity)

    def in_flight_total(self) -> int:
        return self._local.in_flight_total()

    def tracked(self) -> int:
        return self._local.tracked()

    # --- leases ---------------------------------------------------------------------------

    def _lease(self, entity: str, kind: str, limit: int) -> _Lease:
        lease = self._leases.get((entity, kind))
        if lease is None:
            lease = self._leases[(entity, kind)] = _Lease(entity, kind, limit)
            self._want(lease)
        elif lease.limit != limit:
            lease.limit = limit
        return lease

    def _batch(self, lease: _Lease) -> int:
        return max(1, lease.limit // (8 * max(1, self.instances())))

    def _want(self, lease: _Lease) -> None:
        if not lease.asked:
            lease.asked = True
            self._wanted[(lease.entity, lease.kind)] = lease
            self._wake.set()

    def _refuse(self, entity: str, kind: str) -> pllm_accel.Refusal:
        spec = (entity, 0, None, None) if kind == "rpm" else (entity, None, 0, None)
        refused = self._refuser.acquire([spec], 0)
        assert isinstance(refused, pllm_accel.Refusal)
        return refused

    async def refill_once(self) -> None:
        """Leases every limit that asked for one, in one pipeline."""
        if not self._wanted:
            return
        wanted = list(self._wanted.values())
        self._wanted.clear()
        if self._script is None:
            self._script = self.link.client.register_script(_LEASE)
        pipe = self.link.client.pipeline(transaction=False)
        for lease in wanted:
            want = self._batch(lease) + max(0, -lease.credit)
            if lease.kind == "tpm":
                want = max(want, min(lease.limit, -lease.credit + 1))
            key = f"{PREFIX}rl:{lease.kind}:{lease.entity}"
            await self._script(keys=[key], args=[lease.limit, want, WINDOW], client=pipe)
        try:
            answers = await pipe.execute()
        except BaseException:
            for lease in wanted:
                self._wanted[(lease.entity, lease.kind)] = lease
            raise
        for lease, (granted, _room) in zip(wanted, answers, strict=True):
            lease.asked = False
            lease.fresh = False
            lease.credit += int(granted)

    async def refill(self) -> None:
        """Runs until cancelled: refills leases as they ask, backing off while Redis fails."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.refill_once()
                self.link.ok()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.link.failed(e)
                await asyncio.sleep(self.link.retry_in())
                self._wake.set()
