"""How many instances share the Redis: each one heartbeats into a sorted set.

Every instance writes ``ZADD pllm:instances <now> <id>`` once a second, drops members
silent for ``_TTL`` seconds and reads the count, in one pipeline (3 commands a second per
instance, none per request). The count sizes the limiter's lease batches and, when Redis is
down, each instance's share of every limit: the last count seen is kept through an outage.
"""

from __future__ import annotations

import time

from pllm.cluster.link import PREFIX, Link

_KEY = PREFIX + "instances"
_TTL = 5.0


class Presence:
    def __init__(self, link: Link) -> None:
        self.link = link
        self.seen = 1

    async def beat(self) -> None:
        now = time.time()
        pipe = self.link.client.pipeline(transaction=False)
        pipe.zadd(_KEY, {self.link.instance: now})
        pipe.zremrangebyscore(_KEY, "-inf", now - _TTL)
        pipe.zcard(_KEY)
        _, _, count = await pipe.execute()
        self.seen = max(1, int(count))

    async def leave(self) -> None:
        await self.link.client.zrem(_KEY, self.link.instance)
