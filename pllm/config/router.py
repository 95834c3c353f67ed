"""``router_settings``: strategies, retries, fallbacks, circuit breaking and load shedding.

LiteLLM's names are accepted where they mean the same thing (``routing_strategy`` values,
``num_retries``, ``allowed_fails``, ``cooldown_time``, ``retry_after``, ``fallbacks`` as a list
of one-key mappings); LiteLLM settings pllm has no use for are accepted and noted as ignored
(:mod:`pllm.config.keys`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pllm.config.problems import Problems, suggestion
from pllm.config.reader import Reader
from pllm.config.schema import BreakerSettings, RedisSettings, RouterSettings

# pllm's strategy names first, then LiteLLM's aliases. The native router parses the same
# names (a test checks that every one of these is accepted there).
STRATEGIES = (
    "round-robin",
    "least-busy",
    "weighted",
    "priority",
    "latency-based",
    "usage-based",
    "simple-shuffle",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
)

# The keys pllm reads; the loader sets LiteLLM's others aside (pllm.config.keys).
ROUTER_KEYS = {
    "routing_strategy",
    "num_retries",
    "timeout",
    "retry_after",
    "backoff_max",
    "retry_budget_ratio",
    "retry_budget_min",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "allowed_fails",
    "consecutive_failures",
    "failure_rate",
    "min_requests",
    "failure_window",
    "cooldown_time",
    "max_ejection_time",
    "max_ejected_percent",
    "half_open_successes",
    "exploration",
    "max_in_flight",
    "max_queue",
    "queue_timeout",
    # LiteLLM's names for the Redis that instances share (pllm.cluster).
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_db",
    "redis_url",
}
# litellm_settings.cache_params keys that name the same Redis (LiteLLM's cache config).
CACHE_PARAMS_KEYS = {"host": "redis_host", "port": "redis_port", "password": "redis_password"}
PATH = "router_settings"


def parse_router(raw: Any, problems: Problems) -> RouterSettings:
    if not isinstance(raw, dict):
        problems.add(PATH, "must be a mapping")
        return RouterSettings()
    r = Reader(raw, PATH, problems)
    default, per_group = _strategies(raw.get("routing_strategy"), problems)
    base = RouterSettings()
    b = BreakerSettings()
    breaker = BreakerSettings(
        consecutive_failures=r.integer("consecutive_failures", minimum=1)
        or r.integer("allowed_fails", minimum=1)
        or b.consecutive_failures,
        failure_rate=_fraction(r, "failure_rate", b.failure_rate),
        min_requests=_integer(r, "min_requests", b.min_requests, 1),
        failure_window=r.number("failure_window", default=b.failure_window, minimum=0.1),
        base_ejection=r.number("cooldown_time", default=b.base_ejection, minimum=0.0),
        max_ejection=r.number("max_ejection_time", default=b.max_ejection, minimum=0.0),
        half_open_successes=_integer(r, "half_open_successes", b.half_open_successes, 1),
        max_ejected_percent=r.number(
            "max_ejected_percent", default=b.max_ejected_percent, minimum=0.0
        ),
    )
    timeout = r.number("timeout", default=0.0, minimum=0.0)
    return RouterSettings(
        default_strategy=default,
        strategies=per_group,
        num_retries=_integer(r, "num_retries", base.num_retries, 0),
        timeout=timeout or None,
        backoff_base=r.number("retry_after", default=base.backoff_base, minimum=0.0),
        backoff_max=r.number("backoff_max", default=base.backoff_max, minimum=0.0),
        retry_budget_ratio=_fraction(r, "retry_budget_ratio", base.retry_budget_ratio),
        retry_budget_min=_integer(r, "retry_budget_min", base.retry_budget_min, 0),
        fallbacks=_chains(raw.get("fallbacks"), "fallbacks", problems),
        context_window_fallbacks=_chains(
            raw.get("context_window_fallbacks"), "context_window_fallbacks", problems
        ),
        content_policy_fallbacks=_chains(
            raw.get("content_policy_fallbacks"), "content_policy_fallbacks", problems
        ),
        breaker=breaker,
        exploration=_fraction(r, "exploration", base.exploration),
        max_in_flight=r.integer("max_in_flight", minimum=1),
        max_queue=_integer(r, "max_queue", base.max_queue, 0),
        queue_timeout=r.number("queue_timeout", default=base.queue_timeout, minimum=0.0),
        redis=parse_redis(raw, problems),
    )


def parse_redis(
    raw: dict[str, Any], problems: Problems, cache_params: Any = None
) -> RedisSettings | None:
    """``router_settings.redis_*``, else LiteLLM's ``litellm_settings.cache_params``
    (``type: redis``, host/port/password); None when neither names a Redis."""
    section, path = raw, PATH
    if not any(k.startswith("redis_") and raw.get(k) is not None for k in raw):
        if not isinstance(cache_params, dict) or cache_params.get("type", "redis") != "redis":
            return None
        if cache_params.get("host") is None and cache_params.get("url") is None:
            return None
        section = {f"redis_{k}": v for k, v in cache_params.items() if k != "type"}
        path = "litellm_settings.cache_params"
    r = Reader(section, path, problems)
    url = r.string("redis_url", secret=True)
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        # Never echo the URL: it may hold the password.
        problems.add(f"{path}.redis_url", "must start with redis://, rediss:// or unix://")
        url = None
    base = RedisSettings()
    port = r.integer("redis_port", default=base.port, minimum=1)
    if port is not None and port > 65535:
        problems.add(f"{path}.redis_port", "must be at most 65535")
        port = base.port
    return RedisSettings(
        host=r.string("redis_host") or base.host,
        port=base.port if port is None else port,
        password=r.string("redis_password", secret=True),
        db=_integer(r, "redis_db", base.db, 0),
        url=url,
    )


def _integer(r: Reader, key: str, default: int, minimum: int) -> int:
    value = r.integer(key, default=default, minimum=minimum)
    return default if value is None else value


def _fraction(r: Reader, key: str, default: float) -> float:
    value = r.number(key, default=default, minimum=0.0)
    if value > 1.0:
        r.problems.add(f"{PATH}.{key}", "must be between 0 and 1")
        return default
    return value


def _strategy(value: Any, path: str, problems: Problems) -> str | None:
    if isinstance(value, str) and value in STRATEGIES:
        return value
    hint = suggestion(str(value), STRATEGIES) if isinstance(value, str) else None
    reason = f"unknown routing strategy {value!r}" if isinstance(value, str) else "must be a string"
    if hint:
        reason += f" (did you mean {hint!r}?)"
    problems.add(path, f"{reason}; one of {', '.join(STRATEGIES[:6])}")
    return None


def _strategies(value: Any, problems: Problems) -> tuple[str, dict[str, str]]:
    """A name for every group, or a mapping of group names (and ``default``) to names."""
    path = f"{PATH}.routing_strategy"
    default = RouterSettings().default_strategy
    if value is None:
        return default, {}
    if not isinstance(value, dict):
        return _strategy(value, path, problems) or default, {}
    per_group: dict[str, str] = {}
    for group, name in value.items():
        chosen = _strategy(name, f"{path}.{group}", problems)
        if chosen is not None:
            per_group[str(group)] = chosen
    return per_group.pop("default", default), per_group


def _chains(value: Any, key: str, problems: Problems) -> dict[str, tuple[str, ...]]:
    """``{model: [fallback, …]}``, or LiteLLM's ``[{model: [fallback, …]}, …]``."""
    path = f"{PATH}.{key}"
    if value is None:
        return {}
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        items = [pair for v in value for pair in v.items()]
    else:
        problems.add(path, "must map model names to lists of fallback model names")
        return {}
    chains: dict[str, tuple[str, ...]] = {}
    for model, targets in items:
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            problems.add(f"{path}.{model}", "must be a list of model names")
            continue
        chains[str(model)] = tuple(targets)
    return chains


def prune_chains(
    router: RouterSettings,
    configured: set[str],
    active: set[str],
    problems: Problems,
    notes: list[str],
) -> RouterSettings:
    """Checks fallback chains against the model names: a name nowhere in ``model_list`` is a
    problem; one whose entries were all skipped (``requires_env``) is dropped with a note, so a
    config with optional providers still loads without their keys."""
    kinds = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
    pruned: dict[str, dict[str, tuple[str, ...]]] = {}
    for kind in kinds:
        out: dict[str, tuple[str, ...]] = {}
        for model, targets in getattr(router, kind).items():
            for name in (model, *targets):
                if name not in configured:
                    problems.add(
                        f"{PATH}.{kind}.{model}", f"{name!r} is not a model_name in model_list"
                    )
            for name in targets:
                if "*" in name:
                    # A wildcard group serves the name a request asked for; a fallback has none.
                    problems.add(
                        f"{PATH}.{kind}.{model}",
                        f"{name!r} is a wildcard model_name: fall back to an explicit one",
                    )
            kept = tuple(t for t in targets if t in active and t != model)
            dropped = [t for t in targets if t in configured and t not in active]
            if dropped:
                notes.append(f"{PATH}.{kind}.{model}: skipped models dropped: {', '.join(dropped)}")
            if model in active and kept:
                out[model] = kept
        pruned[kind] = out
    return replace(
        router,
        fallbacks=pruned["fallbacks"],
        context_window_fallbacks=pruned["context_window_fallbacks"],
        content_policy_fallbacks=pruned["content_policy_fallbacks"],
    )
