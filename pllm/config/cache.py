"""``litellm_settings.cache`` / ``cache_params``: the response cache, configured LiteLLM's way.

```yaml
litellm_settings:
  cache: true
  cache_params:
    type: local          # local | redis | semantic | redis-semantic
    ttl: 600
    namespace: pllm      # key prefix
    max_size_mb: 64      # local: the in-process LRU's bound
    cache_scope: global  # global | key | user | group: who shares an entry
    supported_call_types: [acompletion, atext_completion, aembedding]
    host: ... / port: ... / password: ...   # redis types (or redis_url)
    similarity_threshold: 0.92                # semantic types
    embedding_model: my-embedder              # a model_name of model_list
    max_entries: 100000                       # vectors the semantic index keeps
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pllm.config.interpolate import interpolate
from pllm.config.problems import Problems
from pllm.config.reader import Reader

# The litellm_settings keys read here (the others are LiteLLM's and noted as ignored).
CACHE_KEYS = frozenset({"cache", "cache_params"})
CACHE_TYPES = ("local", "redis", "semantic", "redis-semantic")
SEMANTIC_TYPES = frozenset({"semantic", "redis-semantic"})
# LiteLLM's types pllm does not implement: a warning, and no cache.
_UNSUPPORTED_TYPES = ("qdrant-semantic", "s3", "disk")
SCOPES = ("global", "key", "user", "group")
# LiteLLM's call types and the pllm endpoint each names ("chat/completions", ...).
CALL_TYPES: Mapping[str, str] = {
    "completion": "chat/completions",
    "acompletion": "chat/completions",
    "text_completion": "completions",
    "atext_completion": "completions",
    "embedding": "embeddings",
    "aembedding": "embeddings",
}
CACHE_PARAM_KEYS = frozenset(
    {
        "type",
        "ttl",
        "namespace",
        "max_size_mb",
        "cache_scope",
        "supported_call_types",
        "host",
        "port",
        "password",
        "redis_url",
        "url",
        "db",
        "similarity_threshold",
        "embedding_model",
        "redis_semantic_cache_embedding_model",
        "max_entries",
    }
)
ALL_ENDPOINTS = frozenset({"chat/completions", "completions", "embeddings"})
DEFAULT_TTL = 600.0
DEFAULT_MAX_SIZE_MB = 64.0


@dataclass(frozen=True, slots=True)
class CacheSettings:
    type: str = "local"
    # Seconds an entry lives unless a request asks for another ttl.
    ttl: float = DEFAULT_TTL
    namespace: str = "pllm"
    max_size_mb: float = DEFAULT_MAX_SIZE_MB
    scope: str = "global"
    # Endpoints cached ("chat/completions", "completions", "embeddings").
    endpoints: frozenset[str] = ALL_ENDPOINTS
    host: str = "127.0.0.1"
    port: int = 6379
    password: str | None = field(default=None, repr=False)
    db: int = 0
    redis_url: str | None = field(default=None, repr=False)
    # Semantic types: the model_name that embeds a request's text, the cosine similarity a
    # hit needs, and how many vectors the index keeps (oldest dropped first).
    embedding_model: str | None = None
    similarity_threshold: float = 0.9
    max_entries: int = 100_000

    @property
    def semantic(self) -> bool:
        return self.type in SEMANTIC_TYPES

    @property
    def max_bytes(self) -> int:
        return int(self.max_size_mb * 1024 * 1024)


def parse_cache(
    litellm: Mapping[str, Any], env: Mapping[str, str], problems: Problems, ignored: list[str]
) -> CacheSettings | None:
    """The cache ``litellm_settings`` turns on, or None (``cache`` absent or false);
    ``cache_params`` keys pllm does not read are added to ``ignored``."""
    enabled = litellm.get("cache")
    if enabled is None or enabled is False:
        return None
    if not isinstance(enabled, bool):
        problems.add("litellm_settings.cache", "must be true or false")
        return None
    raw = interpolate(
        litellm.get("cache_params") or {}, env, "litellm_settings.cache_params", problems
    )
    path = "litellm_settings.cache_params"
    if not isinstance(raw, dict):
        problems.add(path, "must be a mapping")
        return None
    r = Reader(raw, path, problems)
    kind = r.string("type") or "local"
    if kind in _UNSUPPORTED_TYPES:
        # LiteLLM's other back ends: the config serves, without a cache, and says so.
        problems.warn(f"{path}.type", f"{kind!r} is not supported by pllm: the cache is off")
        return None
    # LiteLLM's parameters pllm does not read (redis_startup_nodes, ...): noted as ignored.
    ignored += [f"{path}.{key}" for key in raw if key not in CACHE_PARAM_KEYS]
    if kind not in CACHE_TYPES:
        problems.add(f"{path}.type", f"must be one of {', '.join(CACHE_TYPES)}")
    scope = r.string("cache_scope") or "global"
    if scope not in SCOPES:
        problems.add(f"{path}.cache_scope", f"must be one of {', '.join(SCOPES)}")
    endpoints = _endpoints(
        raw.get("supported_call_types"), f"{path}.supported_call_types", problems
    )
    port = r.integer("port", default=6379, minimum=1)
    embedding_model = r.string("embedding_model") or r.string(
        "redis_semantic_cache_embedding_model"
    )
    threshold = r.number("similarity_threshold", default=0.9, minimum=-1.0)
    if threshold > 1.0:
        problems.add(f"{path}.similarity_threshold", "must be at most 1")
    if kind in SEMANTIC_TYPES and embedding_model is None:
        problems.add(f"{path}.embedding_model", f"is required for type {kind!r}")
    return CacheSettings(
        type=kind,
        ttl=r.number("ttl", default=DEFAULT_TTL, minimum=0.001),
        namespace=r.string("namespace") or "pllm",
        max_size_mb=r.number("max_size_mb", default=DEFAULT_MAX_SIZE_MB, minimum=0.001),
        scope=scope,
        endpoints=endpoints,
        host=r.string("host") or "127.0.0.1",
        port=port if port is not None else 6379,
        password=r.string("password", secret=True),
        db=r.integer("db", default=0, minimum=0) or 0,
        redis_url=r.string("redis_url", secret=True) or r.string("url", secret=True),
        embedding_model=embedding_model,
        similarity_threshold=threshold,
        max_entries=r.integer("max_entries", default=100_000, minimum=1) or 100_000,
    )


def _endpoints(raw: Any, path: str, problems: Problems) -> frozenset[str]:
    if raw is None:
        return ALL_ENDPOINTS
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        problems.add(path, "must be a list of call types")
        return ALL_ENDPOINTS
    out: set[str] = set()
    for name in raw:
        endpoint = CALL_TYPES.get(name)
        if endpoint is None:
            problems.add(path, f"{name!r} is not a call type pllm caches ({', '.join(CALL_TYPES)})")
        else:
            out.add(endpoint)
    return frozenset(out)
