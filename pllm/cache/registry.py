"""The response caches of this process, for the admin API (which runs in the gateway's
process: beside it with one worker, in worker 0 with several)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pllm.cache.service import ResponseCache

_caches: weakref.WeakSet[ResponseCache] = weakref.WeakSet()


def register(cache: ResponseCache) -> None:
    _caches.add(cache)


def unregister(cache: ResponseCache) -> None:
    _caches.discard(cache)


def caches() -> list[ResponseCache]:
    return list(_caches)
