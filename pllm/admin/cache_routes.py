"""``/admin/cache``: the response cache's numbers, and deleting entries (all, one model
group's, or one ``x-litellm-cache-key``'s).

The caches are those of the process that serves the admin API: ``redis`` is one cache for
every instance; ``local`` with ``--workers N`` is worker 0's (each worker has its own).
"""

from __future__ import annotations

from pllm.admin import schemas as s
from pllm.admin.routing import Call, Reply, Route
from pllm.cache import registry
from pllm.cache.service import ResponseCache
from pllm.cache.store import CacheUnavailable
from pllm.errors import GatewayError


def _cache() -> ResponseCache:
    found = registry.caches()
    if not found:
        raise GatewayError(
            404,
            "No response cache is configured (litellm_settings.cache).",
            code="cache_not_configured",
        )
    return found[0]


async def cache_stats(call: Call) -> Reply:
    stats = _cache().stats()
    if "redis_up" in stats:
        stats["redis_up"] = bool(stats["redis_up"])
    return Reply(200, s.CacheStats(**stats))


async def clear_cache(call: Call) -> Reply:
    q = call.query(s.CacheQuery)
    try:
        deleted = await _cache().clear(model=q.model, key=q.key)
    except CacheUnavailable:
        raise GatewayError(
            503,
            "The cache's Redis is unreachable.",
            code="cache_unavailable",
            type="service_unavailable",
        ) from None
    return Reply(200, s.CacheCleared(deleted=deleted))


ROUTES = [
    Route("GET", "/admin/cache", cache_stats, "Response cache numbers", "Cache",
          response=s.CacheStats, errors=(404,),
          description="Type, scope, entries and bytes held (`local`) or whether Redis is "
          "reachable (`redis`), and hits, misses, stores and evictions since the start."),
    Route("DELETE", "/admin/cache", clear_cache, "Delete cached answers", "Cache",
          query=s.CacheQuery, response=s.CacheCleared, errors=(404, 503),
          description="Every entry; with `model`, one model group's; with `key`, the entry "
          "of that `x-litellm-cache-key` (both: that key in that group)."),
]  # fmt: skip
