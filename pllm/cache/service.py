"""The response cache on the request path.

The pipeline calls :meth:`ResponseCache.plan` once the gate admitted a request (so a cached
answer never reaches a request that would have been refused: bad or revoked key, model not
allowed, over a limit or a budget), then :meth:`find`; a hit is answered by :meth:`answer`
in the shape asked for, a miss goes upstream and its answer is stored by :meth:`put` (a
whole reply) or assembled from the relayed frames by the plan's collector (a stream, only
when it ended normally).

Scope (``cache_scope``): ``global`` shares an entry among every caller of a model group (as
LiteLLM does); ``key``, ``user`` and ``group`` key entries by the caller's key, user, or set
of groups as well.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pllm.cache import registry
from pllm.cache.control import Control, control_of
from pllm.cache.entry import Entry, decode, encode, make_entry
from pllm.cache.host_store import HostStore
from pllm.cache.key import cache_key, model_tag
from pllm.cache.local import LocalStore
from pllm.cache.redis_store import RedisStore
from pllm.cache.replay import StreamCollector, as_stream
from pllm.cache.semantic import SemanticIndex, semantic_parts, vector_id
from pllm.cache.store import Store, storage_key
from pllm.cache.vectors import VectorSync
from pllm.call import Call
from pllm.config.cache import CacheSettings
from pllm.http import Request
from pllm.observability.metrics import Labels, Metrics
from pllm.principal import Principal
from pllm.usage import Usage

log = logging.getLogger("pllm.cache")

# Embeds a request's text for the semantic lookup: the vector, or None when that failed.
Embed = Callable[[str], Awaitable[list[float] | None]]

HIT = (b"x-pllm-cache", b"hit")
MISS = (b"x-pllm-cache", b"miss")


_COUNTERS = {
    "pllm_cache_hits_total": "hits",
    "pllm_cache_misses_total": "misses",
    "pllm_cache_stores_total": "stores",
    "pllm_cache_evictions_total": "evictions",
}


class Plan:
    """What the cache does for one request."""

    __slots__ = (
        "collector",
        "control",
        "embed_cost",
        "endpoint",
        "include_usage",
        "key",
        "model",
        "semantic",
        "served_key",
        "vector",
        "where",
    )

    def __init__(
        self, key: str, where: str, model: str, endpoint: str, control: Control, usage: bool
    ) -> None:
        self.key = key
        self.where = where  # the storage key
        self.model = model
        self.endpoint = endpoint
        self.control = control
        self.include_usage = usage
        self.collector: StreamCollector | None = None
        # Semantic types: the request's (text, group), its text's embedding once computed,
        # and what computing it cost (USD, added to the request's cost).
        self.semantic: tuple[str, int] | None = None
        self.vector: list[float] | None = None
        self.embed_cost = 0.0
        # The key of the entry that answered (a semantic hit's differs from the request's).
        self.served_key = key

    def miss_headers(self) -> list[tuple[bytes, bytes]]:
        return [MISS, (b"x-litellm-cache-key", self.key.encode())]


def _scope(scope: str, principal: Principal) -> str:
    if scope == "key":
        return f"k:{principal.key_id or '-'}"
    if scope == "user":
        return f"u:{principal.user_id or '-'}"
    if scope == "group":
        return "g:" + ",".join(sorted(principal.group_ids))
    return ""


def _include_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


class ResponseCache:
    def __init__(
        self,
        settings: CacheSettings,
        metrics: Metrics,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.kind = settings.type
        self._clock = clock
        if store is None:
            if settings.type in ("redis", "redis-semantic"):
                store = RedisStore(settings)
            elif shared := os.environ.get("PLLM_SHARED_DIR"):
                # The workers of one host (--workers N): one cache for all of them.
                store = HostStore(
                    os.path.join(shared, "cache"),
                    settings.max_bytes,
                    sweeper=os.environ.get("PLLM_WORKER_INDEX", "0") == "0",
                    on_evict=self._evicted,
                )
            else:
                store = LocalStore(settings.max_bytes, on_evict=self._evicted)
        self.store = store
        self._labels: dict[str, Labels] = {}
        self.index: SemanticIndex | None = None
        self.vectors: VectorSync | None = None
        if settings.semantic:
            self.index = SemanticIndex(settings.max_entries, clock)
            if settings.type == "redis-semantic" and isinstance(store, RedisStore):
                self.vectors = VectorSync(store, settings.namespace, settings.max_entries)
        registry.register(self)

    def _model_labels(self, model: str) -> Labels:
        labels = self._labels.get(model)
        if labels is None:
            if len(self._labels) >= 10_000:  # bounded, as the pipeline's token labels
                self._labels.clear()
            labels = self._labels[model] = (("model", model), ("cache_type", self.kind))
        return labels

    def _evicted(self, model: str) -> None:
        self.metrics.inc("pllm_cache_evictions_total", self._model_labels(model))

    # --- the request path ------------------------------------------------------------

    def plan(
        self,
        call: Call,
        endpoint: str,
        model: str,
        payload: dict[str, Any],
        headers: dict[bytes, bytes],
    ) -> Plan | None:
        """None when this endpoint is not cached; reads and removes the body's ``cache``."""
        if endpoint not in self.settings.endpoints:
            return None
        control = control_of(payload, headers)
        scope = _scope(self.settings.scope, call.principal)
        if control.namespace is not None:
            # A request's namespace is part of its key, not of where entries are kept: the
            # admin API's deletions reach its entries too.
            scope = f"{scope}|ns:{control.namespace}"
        key = cache_key(endpoint, model, scope, payload)
        where = storage_key(self.settings.namespace, model_tag(model), key)
        plan = Plan(key, where, model, endpoint, control, _include_usage(payload))
        if self.index is not None:
            plan.semantic = semantic_parts(endpoint, model, scope, payload)
        return plan

    async def find(self, plan: Plan, embed: Embed | None = None) -> Entry | None:
        """The entry to answer with, counted as a hit or a miss: the exact entry, else (the
        semantic types, with ``embed``) the most similar one; an entry that fails to decode
        is deleted and is a miss."""
        labels = self._model_labels(plan.model)
        entry = None
        if plan.control.read:
            entry = await self._read(plan, plan.where)
            if entry is None and plan.semantic is not None and embed is not None:
                entry = await self._similar(plan, embed)
        self.metrics.inc("pllm_cache_hits_total" if entry else "pllm_cache_misses_total", labels)
        return entry

    async def _read(self, plan: Plan, where: str) -> Entry | None:
        raw = await self.store.get(where)
        if raw is None:
            return None
        entry = decode(raw)
        if entry is None:
            log.warning("cache entry undecodable: deleted", extra={"fields": {"key": plan.key}})
            await self.store.delete(where)
            return None
        now = self._clock()
        max_age = plan.control.max_age
        if entry.expires_at <= now or (max_age is not None and now - entry.stored_at > max_age):
            return None
        return entry

    async def _similar(self, plan: Plan, embed: Embed) -> Entry | None:
        assert plan.semantic is not None and self.index is not None
        text, group = plan.semantic
        plan.vector = await embed(text)
        if plan.vector is None:
            return None
        if self.vectors is not None:
            await self.vectors.sync(self.index)
        found = self.index.search(group, plan.vector, self.settings.similarity_threshold)
        if found is None:
            return None
        vid, where = found
        entry = await self._read(plan, where)
        if entry is None:
            self.index.remove(vid)
            return None
        plan.served_key = where.rsplit(":", 1)[1]
        return entry

    async def answer(
        self, req: Request, call: Call, plan: Plan, entry: Entry, stream: bool
    ) -> None:
        """Answers from ``entry``: cost 0, tokens not counted against tpm (the pipeline
        releases the gate's ticket without usage), recorded as a cache hit."""
        call.cache_hit = True
        call.usage = entry.usage()
        call.cost = 0.0
        call.served_by = plan.model
        req.extra_headers = [HIT, (b"x-litellm-cache-key", plan.served_key.encode())]
        if not stream:
            await req.respond(200, entry.body, extra=(("x-pllm-cost", "0.0"),))
            return
        await req.start_stream()
        await req.send_chunk(as_stream(plan.endpoint, entry.body, plan.include_usage))
        await req.end_stream()

    def collect(self, plan: Plan) -> Callable[[bytes], None] | None:
        """The tap that collects a stream's frames for storing, when it may be stored."""
        if not plan.control.write or plan.endpoint == "embeddings":
            return None
        plan.collector = StreamCollector(plan.endpoint)
        return plan.collector.feed

    async def put(self, plan: Plan, body: bytes | None, usage: Usage | None) -> None:
        """Stores a reply (``body``), or the stream the plan's collector assembled when
        ``body`` is None."""
        if not plan.control.write:
            return
        if body is None:
            if plan.collector is None:
                return
            body = plan.collector.reply(usage)
            if body is None:
                return
        ttl = plan.control.ttl or self.settings.ttl
        now = self._clock()
        value = encode(make_entry(body, usage, now, ttl))
        await self.store.set(plan.where, value, ttl, plan.model)
        if plan.semantic is not None and plan.vector is not None and self.index is not None:
            vid, group = vector_id(plan.key), plan.semantic[1]
            added = self.index.add(vid, group, plan.vector, plan.where, now + ttl)
            if added and self.vectors is not None:
                await self.vectors.publish(vid, group, plan.vector, plan.where, now + ttl)
        labels = self._model_labels(plan.model)
        self.metrics.inc("pllm_cache_stores_total", labels)
        self.metrics.inc("pllm_cache_stored_bytes_total", labels, len(value))

    # --- operations --------------------------------------------------------------------

    async def clear(self, model: str | None = None, key: str | None = None) -> int:
        """Deletes every entry, one model group's, or one key's (in the configured
        namespace; ``key`` is ``x-litellm-cache-key``); how many."""
        prefix = f"{self.settings.namespace}:"
        if model is not None:
            prefix += f"{model_tag(model)}:"
        suffix = f":{key}" if key is not None else ""
        if self.index is not None:
            self.index.clear(prefix, suffix)
        return await self.store.clear(prefix, suffix)

    def stats(self) -> dict[str, Any]:
        """What the cache holds (this process's share for ``local``) and what it did since
        the process started."""
        counts = dict.fromkeys(_COUNTERS.values(), 0)
        for (name, _), value in self.metrics.counters.items():
            field = _COUNTERS.get(name)
            if field is not None:
                counts[field] += int(value)
        if self.index is not None:
            counts["vectors"] = len(self.index)
        return {"type": self.kind, "scope": self.settings.scope, **self.store.stats(), **counts}

    def samples(self) -> list[tuple[str, Labels, float]]:
        """Gauges read when /metrics is scraped: bytes held, by model (local)."""
        if isinstance(self.store, HostStore) and self.store.bytes:
            return [("pllm_cache_bytes", self._model_labels("*"), float(self.store.bytes))]
        if not isinstance(self.store, LocalStore):
            return []
        return [
            ("pllm_cache_bytes", self._model_labels(model), float(size))
            for model, size in self.store.bytes_by_model.items()
        ]

    async def close(self) -> None:
        registry.unregister(self)
        await self.store.close()
