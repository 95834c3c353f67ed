"""Rate limits (rpm, tpm) exact across instances, with no Redis round trip on a request.

Same interface as :class:`pllm_accel.Limiter`, so the gate (keys, users, groups) and the
router (deployments) use it unchanged. Each instance leases small batches of every limit
from Redis and admits from its lease locally; a background task refills a lease once it
runs low, before it runs out. The Lua script (:data:`_LEASE`) does a sliding-window count
atomically: the current minute's count plus the previous minute's weighted by how much of
it is still inside the window, and grants ``min(wanted, limit - that)`` by adding it to the
current minute at once (a lease is spent when taken, used or not).

Batch size: ``max(1, limit // (8 * instances))``. Each lease is tagged with the window
(minute) it was granted in, and is used only in that window: when the window turns, leftover
credit goes back to Redis (``_GIVE_BACK``, off the request path) and the lease starts from
what was leased ahead for the new window (in the last ``LEAD`` seconds of a window, an
instance that uses a limit also leases a batch of the next one, granted against the next
window as at its start, so that it does not refuse at the turn while waiting on Redis).
Windows follow Redis's clock (each instance tracks its offset from the answers). Error
bound, per limit and fixed minute, as Redis counts it:

* rpm: **0**. Redis never grants more than ``limit`` into one minute's count, and an
  instance admits only from credit granted for the minute it is in, so no minute admits
  more than the limit, at any number of instances. A request that finds its instance's
  lease empty while Redis may still have some (the first request of an entity on an
  instance, or a burst faster than the refills) waits for the refill it asks for (one round
  trip, at most ``pllm.lease.PATIENCE``) and asks once more (:class:`pllm.lease.LeaseShort`);
  once Redis has answered that the minute has nothing left, requests are refused at once.
  The one approximation: requests admitted within the clock-offset error (half a round
  trip, well under a millisecond) of the turn may land in the next minute.
* tpm: admits while any credit is left (the reply's size is only known at the end): at most
  one request's tokens per instance over.
* Errs low: credit given back at a turn is lost to the minute it was leased in (at most
  ``instances * batch <= limit / 8`` refused early near its end, while others held it).

At 3 instances and rpm 30 (batch 1): at most the limit in every minute, within the +2 of
the issue's bound (``tests/cluster/test_limiter.py``
hammers 3 limiters through two window turns; 30 and 240 rpm stay within limit + 2).

Commands per request: none on the path but for a lease found empty (above); the refills
cost one ``EVALSHA`` per batch, that is ``8 * instances / limit`` per request per limit
(pipelined with the other leases wanted), plus per limit and minute one lease ahead and one
give-back.
Parallel limits (``max_parallel_requests``) stay per instance: a counter in Redis would need
two round trips per request (take and give back) and a lost give-back on a crash holds a
slot forever; a local count is exact for what one instance can see.

When Redis is down each instance enforces ``limit // instances`` (at least 1) of every limit
with the local :class:`pllm_accel.Limiter`, never unlimited and never refusing everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pllm_accel
from pllm.cluster.link import PREFIX, Link
from pllm.lease import LeaseShort

log = logging.getLogger("pllm.cluster")

Entity = tuple[str, int | None, int | None, int | None]

WINDOW = 60
# In the last LEAD seconds of a window an instance also leases for the next one, so that it
# has credit the moment the window turns (leftover credit is not carried over).
LEAD = 2.0
# ARGV: limit, want, window, now ('' takes Redis's clock), ahead (1: lease the next window).
_LEASE = """
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[4])
end
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local win = tonumber(ARGV[3])
local idx = math.floor(now / win)
local c = tonumber(redis.call('GET', KEYS[1] .. ':' .. idx) or '0')
local used
if ARGV[5] == '1' then
  -- The next window as at its start, where this one's count still weighs fully.
  idx = idx + 1
  used = c + tonumber(redis.call('GET', KEYS[1] .. ':' .. idx) or '0')
else
  local p = tonumber(redis.call('GET', KEYS[1] .. ':' .. (idx - 1)) or '0')
  used = p * (1 - (now - (idx * win)) / win) + c
end
local room = math.floor(limit - used)
local grant = math.max(0, math.min(want, room))
if grant > 0 then
  redis.call('INCRBY', KEYS[1] .. ':' .. idx, grant)
  redis.call('EXPIRE', KEYS[1] .. ':' .. idx, win * 3)
end
return {grant, idx, tostring(now)}
"""
# Credit left when a window turned goes back to that window's count: the next window's
# sliding count weighs it, and what was never used must not keep others out.
_GIVE_BACK = """
local n = math.min(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(ARGV[1]))
if n > 0 then redis.call('DECRBY', KEYS[1], n) end
return n
"""


class _Lease:
    """This instance's credit on one limit of one entity, in the window it was leased for."""

    __slots__ = (
        "asked",
        "asked_ahead",
        "credit",
        "dry",
        "entity",
        "kind",
        "limit",
        "next_credit",
        "next_window",
        "window",
    )

    def __init__(self, entity: str, kind: str, limit: int) -> None:
        self.entity = entity
        self.kind = kind
        self.limit = limit
        self.credit = 0
        # None until its first lease answers.
        self.window: int | None = None
        # The window in which Redis answered a refill with nothing: refuse without waiting.
        self.dry: int | None = None
        # Leased for the window after ``window`` (see LEAD).
        self.next_credit = 0
        self.next_window: int | None = None
        self.asked = False
        self.asked_ahead = False

    def key(self) -> str:
        return f"{PREFIX}rl:{self.kind}:{self.entity}"


def _covers(lease: _Lease, tokens: int) -> bool:
    """Whether the lease admits one more request: a whole credit for rpm, any for tpm (the
    reply's size is only known at the end). Before its first grant it has none: the request
    waits for it (:class:`pllm.lease.LeaseShort`)."""
    return lease.credit >= 1 if lease.kind == "rpm" else lease.credit > 0


class ClusterLimiter:
    """``acquire``/``release``/``in_flight``/``in_flight_total``/``tracked`` as
    :class:`pllm_accel.Limiter`; ``refill`` is the background task that keeps leases up.

    ``clock``: given (tests, benches), windows follow it and the script is told the time;
    left out, windows follow Redis's clock, which this instance tracks from the answers'
    times so that every instance turns its windows with Redis, not with its own clock.
    """

    def __init__(
        self,
        link: Link,
        instances: Callable[[], int],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.link = link
        self.instances = instances
        self._clock = clock or time.time
        self._told = clock is not None
        # Redis's clock minus ours, from the latest answer (0 with an injected clock).
        self._offset = 0.0
        # Parallel limits and in-flight counts always; rpm/tpm while Redis is down.
        self._local = pllm_accel.Limiter()
        # Makes the Refusal objects callers expect (a limit of 0 always refuses).
        self._refuser = pllm_accel.Limiter()
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._tickets: dict[int, tuple[int, tuple[_Lease, ...], int, int | None]] = {}
        self._ids = itertools.count(1)
        self._wanted: dict[tuple[str, str, bool], _Lease] = {}
        self._returns: dict[tuple[str, int], int] = {}
        self._wake = asyncio.Event()
        # Resolved when the refill under way (or the next one) ends: see refilled().
        self._round: asyncio.Future[None] | None = None
        self._lease_script: Any = None
        self._return_script: Any = None

    def online(self) -> bool:
        return self.link.up is not False

    def share(self, limit: int | None) -> int | None:
        return None if limit is None else max(1, limit // max(1, self.instances()))

    def now(self) -> float:
        """The time as Redis sees it (or the injected clock's)."""
        return self._clock() + self._offset

    def acquire(
        self, entities: Sequence[Entity], tokens: int, now: float | None = None
    ) -> int | pllm_accel.Refusal | LeaseShort[pllm_accel.Refusal]:
        if not self.online():
            scaled = [(e, self.share(rpm), self.share(tpm), par) for e, rpm, tpm, par in entities]
            local = self._local.acquire(scaled, tokens)
            if isinstance(local, pllm_accel.Refusal):
                return local
            ticket = next(self._ids)
            self._tickets[ticket] = (local, (), tokens, None)
            return ticket
        at = self.now()
        window = int(at // WINDOW)
        ahead = at - window * WINDOW >= WINDOW - LEAD
        taken: list[_Lease] = []
        for entity, rpm, tpm, _ in entities:
            for kind, limit in (("rpm", rpm), ("tpm", tpm)):
                if limit is None:
                    continue
                lease = self._lease(entity, kind, limit, window)
                if ahead and lease.next_window != window + 1:
                    self._want(lease, True)
                if not _covers(lease, tokens):
                    self._want(lease)
                    refused = self._refuse(entity, kind)
                    if lease.dry == window:
                        return refused  # Redis had nothing more this minute
                    return LeaseShort(self.refilled, refused)
                taken.append(lease)
        local = self._local.acquire([(e, None, None, par) for e, _, _, par in entities], tokens)
        if isinstance(local, pllm_accel.Refusal):
            return local
        for lease in taken:
            lease.credit -= 1 if lease.kind == "rpm" else tokens
            if lease.credit < self._batch(lease) // 2 + 1:
                self._want(lease)
        ticket = next(self._ids)
        tpm_leases = tuple(t for t in taken if t.kind == "tpm")
        self._tickets[ticket] = (local, tpm_leases, tokens, window)
        return ticket

    def release(self, ticket: int, tokens_used: int = 0, now: float | None = None) -> bool:
        held = self._tickets.pop(ticket, None)
        if held is None:
            return False
        local, tpm_leases, tokens, window = held
        self._local.release(local, tokens_used)
        for lease in tpm_leases:
            # The estimate was taken; the real count is what the window should have seen.
            # Credit of a window that has turned since is not this window's to use.
            if lease.window == window:
                lease.credit += tokens - tokens_used
        return True

    def in_flight(self, entity: str) -> int:
        return self._local.in_flight(entity)

    def in_flight_total(self) -> int:
        return self._local.in_flight_total()

    def tracked(self) -> int:
        return self._local.tracked()

    # --- leases ---------------------------------------------------------------------------

    def _lease(self, entity: str, kind: str, limit: int, window: int) -> _Lease:
        lease = self._leases.get((entity, kind))
        if lease is None:
            lease = self._leases[(entity, kind)] = _Lease(entity, kind, limit)
            self._want(lease)
            return lease
        if lease.limit != limit:
            lease.limit = limit
        if lease.window is not None and window > lease.window:
            self._turn(lease, window)
        return lease

    def _turn(self, lease: _Lease, window: int) -> None:
        """The window turned: leftover credit goes back to its window (a debt, tpm's
        overshoot, stays with the window it was made in), and credit leased ahead for the
        new window becomes the lease."""
        assert lease.window is not None
        if lease.credit > 0:
            self._give_back(lease, lease.window, lease.credit)
        lease.credit = 0
        if lease.next_window is not None:
            if lease.next_window == window:
                lease.credit = lease.next_credit
            elif lease.next_credit > 0:
                self._give_back(lease, lease.next_window, lease.next_credit)
        lease.next_credit = 0
        lease.next_window = None
        lease.window = window
        if lease.credit < self._batch(lease) // 2 + 1:
            self._want(lease)

    def _give_back(self, lease: _Lease, window: int, credit: int) -> None:
        where = (lease.key(), window)
        self._returns[where] = self._returns.get(where, 0) + credit
        self._wake.set()

    def _batch(self, lease: _Lease) -> int:
        return max(1, lease.limit // (8 * max(1, self.instances())))

    def _want(self, lease: _Lease, ahead: bool = False) -> None:
        if ahead:
            if not lease.asked_ahead:
                lease.asked_ahead = True
                self._wanted[(lease.entity, lease.kind, True)] = lease
                self._wake.set()
        elif not lease.asked:
            lease.asked = True
            self._wanted[(lease.entity, lease.kind, False)] = lease
            self._wake.set()

    def _refuse(self, entity: str, kind: str) -> pllm_accel.Refusal:
        spec = (entity, 0, None, None) if kind == "rpm" else (entity, None, 0, None)
        refused = self._refuser.acquire([spec], 0)
        assert isinstance(refused, pllm_accel.Refusal)
        return refused

    async def refill_once(self) -> None:
        """Leases every limit that asked for one and gives back leftovers, in one pipeline."""
        if not self._wanted and not self._returns:
            return
        wanted = list(self._wanted.items())
        returns = list(self._returns.items())
        self._wanted.clear()
        self._returns.clear()
        client = self.link.client
        if self._lease_script is None:
            self._lease_script = client.register_script(_LEASE)
            self._return_script = client.register_script(_GIVE_BACK)
        pipe = client.pipeline(transaction=False)
        told = repr(self._clock()) if self._told else ""
        for (_, _, ahead), lease in wanted:
            want = self._batch(lease)
            if not ahead:
                want += max(0, -lease.credit)
                if lease.kind == "tpm":
                    want = max(want, min(lease.limit, -lease.credit + 1))
            args = [lease.limit, want, WINDOW, told, int(ahead)]
            await self._lease_script(keys=[lease.key()], args=args, client=pipe)
        for (key, window), credit in returns:
            await self._return_script(keys=[f"{key}:{window}"], args=[credit], client=pipe)
        sent = self._clock()
        try:
            answers = await pipe.execute()
        except BaseException:
            for asked, lease in wanted:
                self._wanted[asked] = lease
            for place, credit in returns:
                self._returns[place] = self._returns.get(place, 0) + credit
            raise
        if not self._told and answers[: len(wanted)]:
            # Redis's clock read mid-way through the round trip.
            received = self._clock()
            self._offset = float(answers[0][2]) - (sent + received) / 2
        for ((_, _, ahead), lease), answer in zip(wanted, answers, strict=False):
            self._apply(lease, ahead, int(answer[0]), int(answer[1]))

    def _apply(self, lease: _Lease, ahead: bool, granted: int, window: int) -> None:
        if ahead:
            lease.asked_ahead = False
        else:
            lease.asked = False
        if lease.window is None:
            lease.window = window - 1 if ahead else window
        elif not ahead and window > lease.window:
            self._turn(lease, window)
        if window == lease.window:
            lease.credit += granted
            if not ahead and granted == 0:
                lease.dry = window
        elif window == lease.window + 1 and lease.next_window in (None, window):
            lease.next_window = window
            lease.next_credit += granted
        elif granted > 0:
            # For a window already gone here: nobody will use it.
            self._give_back(lease, window, granted)

    async def refilled(self, patience: float) -> None:
        """Waits for the next refill to end (at most ``patience`` seconds): a request whose
        lease was short asks once more then."""
        if self._round is None or self._round.done():
            self._round = asyncio.get_running_loop().create_future()
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._round), patience)

    async def refill(self) -> None:
        """Runs until cancelled: refills leases as they ask, backing off while Redis fails."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            round_, self._round = self._round, None
            try:
                await self.refill_once()
                self.link.ok()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.link.failed(e)
                await asyncio.sleep(self.link.retry_in())
                self._wake.set()
            finally:
                if round_ is not None and not round_.done():
                    round_.set_result(None)
