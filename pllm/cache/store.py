"""What the cache keeps its entries in: the in-process LRU (:mod:`.local`) or Redis
(:mod:`.redis_store`). Keys are ``<namespace>:<model tag>:<key>`` (:func:`storage_key`);
values are encoded :class:`pllm.cache.entry.Entry` bytes."""

from __future__ import annotations

from typing import Protocol


def storage_key(namespace: str, tag: str, key: str) -> str:
    return f"{namespace}:{tag}:{key}"


class CacheUnavailable(Exception):
    """The store cannot be reached for an operation that must not pretend it succeeded."""


class Store(Protocol):
    kind: str

    async def get(self, key: str) -> bytes | None:
        """The value, or None (absent, expired, or the store unreachable)."""
        ...

    async def set(self, key: str, value: bytes, ttl: float, model: str) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def clear(self, prefix: str, suffix: str = "") -> int:
        """Deletes every entry whose storage key starts with ``prefix`` and ends with
        ``suffix``; how many."""
        ...

    def stats(self) -> dict[str, int]:
        """Entries and bytes held (what this process knows of)."""
        ...

    async def close(self) -> None: ...
