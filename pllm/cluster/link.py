"""The Redis connection of one instance, and whether it works right now.

Requests never wait on it: every caller is a background task, and the request path only reads
:attr:`Link.up`. An outage is logged once when it begins and once when it ends (not per
failed command), naming the error's type and host:port only, never the password. Reconnecting
is redis-py's: each background task keeps trying on its own period, and :meth:`Link.retry_in`
spaces the attempts (0.1 s doubling to 5 s) while the link is down.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any

from pllm.config.schema import RedisSettings

log = logging.getLogger("pllm.cluster")

_TIMEOUT = 0.5
_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 5.0
PREFIX = "pllm:"


def instance_id() -> str:
    """Unique per process: each worker of ``--workers N`` leases and counts on its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Link:
    def __init__(self, settings: RedisSettings, instance: str | None = None) -> None:
        import redis.asyncio as aioredis  # only with a Redis configured

        self.settings = settings
        self.instance = instance or instance_id()
        options: dict[str, Any] = {
            "socket_timeout": _TIMEOUT,
            "socket_connect_timeout": _TIMEOUT,
            "health_check_interval": 0,
        }
        if settings.url is not None:
            self.client = aioredis.Redis.from_url(settings.url, **options)
        else:
            self.client = aioredis.Redis(
                host=settings.host,
                port=settings.port,
                password=settings.password,
                db=settings.db,
                **options,
            )
        # None until the first command answered or failed: /ready says "degraded" only after.
        self.up: bool | None = None
        self.down_since: float | None = None
        self._backoff = _BACKOFF_MIN

    def status(self) -> str:
        return "connected" if self.up else "degraded"

    def ok(self) -> None:
        if self.up is not True:
            if self.up is False:
                log.warning(
                    "redis reachable again: limits and budgets are shared across instances",
                    extra={"fields": {"redis": self.settings.where()}},
                )
            else:
                log.info("redis connected", extra={"fields": {"redis": self.settings.where()}})
        self.up = True
        self.down_since = None
        self._backoff = _BACKOFF_MIN

    def failed(self, error: BaseException) -> None:
        if self.up is not False:
            log.error(
                "redis unavailable: each instance enforces its share of every limit until it "
                "is back",
                extra={"fields": {"redis": self.settings.where(), "error": type(error).__name__}},
            )
            self.down_since = time.monotonic()
        self.up = False

    def retry_in(self) -> float:
        """Seconds until the next attempt of a task whose last command failed."""
        wait = self._backoff
        self._backoff = min(_BACKOFF_MAX, self._backoff * 2)
        return wait

    async def close(self) -> None:
        await self.client.aclose()
