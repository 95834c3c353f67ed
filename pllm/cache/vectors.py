"""``redis-semantic``: the semantic index's vectors shared through Redis.

Plain Redis has no vector search, so each instance keeps its own index
(:class:`pllm.cache.semantic.SemanticIndex`, in Rust) and Redis carries the vectors: every
stored answer's vector is appended to one stream (``<namespace>:vecs``, ``XADD`` trimmed to
about ``max_entries``), and each instance reads what it has not seen yet before a semantic
lookup, at most every ``SYNC_INTERVAL`` seconds (a new instance reads the whole stream: its
index starts warm). The answers themselves are the exact cache's Redis entries, so an
entry deleted or expired there is a miss and leaves the index at its next match.
"""

from __future__ import annotations

import array
import time

import msgspec

from pllm.cache.redis_store import RedisStore
from pllm.cache.semantic import SemanticIndex

SYNC_INTERVAL = 0.5
_BATCH = 1000


class _Vector(msgspec.Struct, array_like=True):
    id: int
    group: int
    where: str
    expires_at: float
    vector: bytes  # float32, native order


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Vector).decode


class VectorSync:
    def __init__(self, store: RedisStore, namespace: str, max_entries: int) -> None:
        self.store = store
        self.stream = f"{namespace}:vecs"
        self.max_entries = max_entries
        self._last = "0-0"
        self._next = 0.0

    async def publish(
        self, vid: int, group: int, vector: list[float], where: str, expires_at: float
    ) -> None:
        if not self.store.usable():
            return
        packed = _encode(_Vector(vid, group, where, expires_at, array.array("f", vector).tobytes()))
        try:
            await self.store.client.xadd(
                self.stream, {"v": packed}, maxlen=self.max_entries, approximate=True
            )
        except self.store.errors as e:
            self.store.failed(e)

    async def sync(self, index: SemanticIndex) -> None:
        """Adds the vectors other instances stored since the last sync."""
        now = time.monotonic()
        if now < self._next or not self.store.usable():
            return
        self._next = now + SYNC_INTERVAL
        try:
            while True:
                batch = (
                    await self.store.client.xrange(
                        self.stream, min=f"({self._last}", max="+", count=_BATCH
                    )
                    or []
                )
                for entry_id, fields in batch:
                    if isinstance(entry_id, bytes):
                        self._last = entry_id.decode()
                    elif isinstance(entry_id, str):
                        self._last = entry_id
                    raw = (fields or {}).get(b"v")
                    self._add(index, raw if isinstance(raw, bytes) else None)
                if len(batch) < _BATCH:
                    return
        except self.store.errors as e:
            self.store.failed(e)

    @staticmethod
    def _add(index: SemanticIndex, raw: bytes | None) -> None:
        if raw is None:
            return
        try:
            v = _decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if v.expires_at <= time.time() or v.id in index:
            return
        vector = array.array("f")
        vector.frombytes(v.vector)
        index.add(v.id, v.group, vector.tolist(), v.where, v.expires_at)
