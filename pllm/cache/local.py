"""The in-process cache: an LRU bounded in bytes, entries expiring at their ttl.

Without workers, that is: the workers of ``pllm serve --workers N`` share one in their shared
directory instead (:mod:`.host_store`); Redis is shared by every instance.
Setting an entry that does not fit evicts the least recently used until it does; an entry
larger than the whole bound is not stored.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Bytes counted per entry beyond its key and value: the dict slot, tuple and strings.
OVERHEAD = 200


class LocalStore:
    kind = "local"

    def __init__(
        self,
        max_bytes: int,
        on_evict: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._on_evict = on_evict
        # key -> (value, expires at (clock), model, size)
        self._items: OrderedDict[str, tuple[bytes, float, str, int]] = OrderedDict()
        self.bytes = 0
        self.bytes_by_model: dict[str, int] = {}

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return item[0]

    async def set(self, key: str, value: bytes, ttl: float, model: str) -> None:
        size = len(key) + len(value) + OVERHEAD
        if key in self._items:
            self._drop(key)
        if size > self.max_bytes:
            return
        while self.bytes + size > self.max_bytes:
            oldest = next(iter(self._items))
            evicted = self._items[oldest][2]
            self._drop(oldest)
            if self._on_evict is not None:
                self._on_evict(evicted)
        self._items[key] = (value, self._clock() + ttl, model, size)
        self.bytes += size
        self.bytes_by_model[model] = self.bytes_by_model.get(model, 0) + size

    def _drop(self, key: str) -> None:
        _, _, model, size = self._items.pop(key)
        self.bytes -= size
        left = self.bytes_by_model[model] - size
        if left:
            self.bytes_by_model[model] = left
        else:
            del self.bytes_by_model[model]

    async def delete(self, key: str) -> None:
        if key in self._items:
            self._drop(key)

    async def clear(self, prefix: str, suffix: str = "") -> int:
        doomed = [k for k in self._items if k.startswith(prefix) and k.endswith(suffix)]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._items), "bytes": self.bytes, "max_bytes": self.max_bytes}

    async def close(self) -> None:
        self._items.clear()
        self.bytes = 0
        self.bytes_by_model.clear()

    def __len__(self) -> int:
        return len(self._items)
