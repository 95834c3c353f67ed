"""Load shedding: a cap on requests in flight per worker with a short, bounded wait queue.

Beyond the queue, or after waiting ``queue_timeout``, a request gets a fast 503 with
``Retry-After`` instead of piling onto an overloaded gateway. A queued request whose client
went away leaves the queue and is never sent upstream.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time

from pllm.errors import GatewayError
from pllm.http import ClientDisconnected, Request
from pllm.observability.metrics import Metrics

log = logging.getLogger("pllm.shedding")
# At most one "at capacity" line per this many seconds: shedding comes in floods.
_LOG_EVERY = 10.0


class Admission:
    def __init__(
        self, max_in_flight: int | None, max_queue: int, queue_timeout: float, metrics: Metrics
    ) -> None:
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._metrics = metrics
        self._logged_at = -_LOG_EVERY
        self._shed_since_log = 0

    def _shed(self, reason: str) -> GatewayError:
        self._metrics.inc("pllm_shed_total", (("reason", reason),))
        self._shed_since_log += 1
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            log.warning(
                "at capacity: answering 503 (raise router_settings.max_in_flight, the file "
                "descriptor limit, or add workers)",
                extra={
                    "fields": {
                        "reason": reason,
                        "max_in_flight": self.max_in_flight,
                        "shed": self._shed_since_log,
                    }
                },
            )
            self._logged_at, self._shed_since_log = now, 0
        retry_after = str(max(1, math.ceil(self.queue_timeout)))
        return GatewayError(
            503,
            "The gateway is at capacity; retry shortly.",
            code="overloaded",
            headers=(("retry-after", retry_after),),
        )

    def queued(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Takes a slot at once if one is free (the common case, no coroutine needed)."""
        limit = self.max_in_flight
        if limit is None or (self.in_flight < limit and not self._waiters):
            self.in_flight += 1
            return True
        return False

    async def acquire(self, req: Request) -> None:
        """Takes a slot, waiting in the bounded queue if need be."""
        if self.try_acquire():
            return
        if len(self._waiters) >= self.max_queue:
            raise self._shed("queue_full")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        gone = asyncio.ensure_future(req.receive())
        try:
            done, _ = await asyncio.wait(
                (waiter, gone), timeout=self.queue_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            gone.cancel()
            if not waiter.done():
                waiter.cancel()
                self._waiters.remove(waiter)
        if waiter in done and not waiter.cancelled():
            return  # the slot was handed over by release()
        if waiter.done() and not waiter.cancelled():
            self.release()  # granted just as we gave up: pass it on
        if gone in done:
            raise ClientDisconnected
        raise self._shed("queue_timeout")

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves to the waiter; in_flight unchanged
                return
        self.in_flight -= 1
