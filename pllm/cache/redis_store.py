"""The cache in Redis, shared by every instance: one string per entry, expiring at its ttl.

Redis unreachable: the cache is bypassed (every lookup a miss, nothing stored) with one log
line when it goes down and one when it is back; requests are served as without a cache.
After a failure Redis is tried again at most every ``RETRY_AFTER`` seconds.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from pllm.cache.store import CacheUnavailable
from pllm.config.cache import CacheSettings

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("pllm.cache")

RETRY_AFTER = 1.0
_TIMEOUT = 0.5


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisStore:
    kind = "redis"

    def __init__(self, settings: CacheSettings) -> None:
        import redis.asyncio as aioredis  # only when a Redis cache is configured

        self.errors: tuple[type[BaseException], ...] = (aioredis.RedisError, OSError)
        self.client: aioredis.Redis
        if settings.redis_url is not None:
            self.client = aioredis.Redis.from_url(
                settings.redis_url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT
            )
        else:
            self.client = aioredis.Redis(
                host=settings.host,
                port=settings.port,
                password=settings.password,
                db=settings.db,
                socket_timeout=_TIMEOUT,
                socket_connect_timeout=_TIMEOUT,
            )
        self._retry_at = 0.0
        self.down = False

    def usable(self) -> bool:
        return not self.down or time.monotonic() >= self._retry_at

    def failed(self, err: BaseException) -> None:
        if not self.down:
            log.warning(
                "cache Redis unreachable: the cache is bypassed until it is back",
                extra={"fields": {"error": type(err).__name__}},
            )
        self.down = True
        self._retry_at = time.monotonic() + RETRY_AFTER

    def ok(self) -> None:
        if self.down:
            self.down = False
            log.info("cache Redis reachable again")

    async def get(self, key: str) -> bytes | None:
        if not self.usable():
            return None
        try:
            value = await self.client.get(key)
        except self.errors as e:
            self.failed(e)
            return None
        self.ok()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float, model: str) -> None:
        if not self.usable():
            return
        try:
            await self.client.set(key, value, px=max(1, int(ttl * 1000)))
        except self.errors as e:
            self.failed(e)
            return
        self.ok()

    async def delete(self, key: str) -> None:
        if not self.usable():
            return
        try:
            await self.client.delete(key)
        except self.errors as e:
            self.failed(e)

    async def clear(self, prefix: str, suffix: str = "") -> int:
        """Raises :class:`CacheUnavailable` when Redis is unreachable (the admin call fails
        rather than lie)."""
        deleted = 0
        batch: list[bytes] = []
        pattern = f"{_glob_escape(prefix)}*{_glob_escape(suffix)}"
        try:
            async for key in self.client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += await self.client.delete(*batch)
                    batch.clear()
            if batch:
                deleted += await self.client.delete(*batch)
        except self.errors as e:
            self.failed(e)
            raise CacheUnavailable from None
        return deleted

    def stats(self) -> dict[str, int]:
        return {"redis_up": 0 if self.down else 1}

    async def close(self) -> None:
        await self.client.aclose()
