"""Reads ``config.yaml`` into :class:`Settings`, reporting every problem at once."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pllm.config.cache import CACHE_KEYS, parse_cache
from pllm.config.general import GENERAL_KEYS, parse_general
from pllm.config.interpolate import interpolate
from pllm.config.keys import (
    LITELLM_GENERAL,
    LITELLM_ROUTER,
    LITELLM_TOP_LEVEL,
    IgnoredKeys,
    check_keys,
    sort_keys,
)
from pllm.config.model_list import ENTRY_KEYS, PARAM_KEYS, PROVIDER_PARAM_KEYS, parse_model_list
from pllm.config.problems import ConfigError, Problems
from pllm.config.reader import Reader
from pllm.config.router import ROUTER_KEYS, parse_redis, parse_router, prune_chains
from pllm.config.schema import ServerSettings, Settings

__all__ = [
    "ENTRY_KEYS",
    "PARAM_KEYS",
    "PROVIDER_PARAM_KEYS",
    "TOP_LEVEL",
    "check_keys",
    "load_settings",
    "parse_settings",
]

TOP_LEVEL = {
    "model_list",
    "general_settings",
    "router_settings",
    "litellm_settings",
    "server",
    "environment_variables",
}
SERVER_KEYS = {"host", "port", "workers", "backpressure", "upstream_threads"}
# An instance, not the class: slotted dataclass attributes are descriptors on the class.
_SERVER = ServerSettings()


def load_settings(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    """Loads and validates a config file; raises :class:`ConfigError` listing every problem."""
    env = os.environ if env is None else env
    file = str(path)
    problems = Problems(file)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as e:
        problems.add("", f"cannot read the file: {e.strerror or e}")
        raise ConfigError(problems.items) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problems.add("", f"{where}not valid YAML ({getattr(e, 'problem', None) or 'syntax error'})")
        raise ConfigError(problems.items) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.add("", "the top level must be a mapping")
        raise ConfigError(problems.items)
    settings = parse_settings(raw, file, env, problems)
    if problems:
        raise ConfigError(problems.items, problems.warnings)
    return settings


def parse_settings(
    raw: dict[str, Any], file: str, env: Mapping[str, str], problems: Problems
) -> Settings:
    ignored = IgnoredKeys()
    sort_keys(raw, TOP_LEVEL, LITELLM_TOP_LEVEL, "", problems, ignored)
    notes: list[str] = []
    deployments = parse_model_list(raw.get("model_list"), env, problems, notes, ignored)
    general = parse_general(
        _section(raw, "general_settings", GENERAL_KEYS, LITELLM_GENERAL, env, problems, ignored),
        problems,
        Path(file).resolve().parent,
    )
    server = _parse_server(interpolate(raw.get("server") or {}, env, "server", problems), problems)
    router = parse_router(
        _section(raw, "router_settings", ROUTER_KEYS, LITELLM_ROUTER, env, problems, ignored),
        problems,
    )
    configured = {
        e["model_name"]
        for e in raw.get("model_list") or []
        if isinstance(e, dict) and isinstance(e.get("model_name"), str)
    }
    active = {d.model_name for d in deployments}
    _check_cache_model(raw.get("litellm_settings"), configured, problems)
    router = prune_chains(router, configured, active, problems, notes)
    litellm = raw.get("litellm_settings")
    cache = None
    if isinstance(litellm, dict):
        # LiteLLM's module settings (callbacks, ...): pllm reads only the response cache's.
        cache = parse_cache(litellm, env, problems, ignored.litellm)
        ignored.litellm += [f"litellm_settings.{k}" for k in litellm if k not in CACHE_KEYS]
        if router.redis is None and isinstance(litellm.get("cache_params"), dict):
            # LiteLLM's multi-instance configs name their one Redis here: the instances
            # share limits and health through it too. Its problems were reported above.
            quiet = Problems(file)
            params = interpolate(litellm["cache_params"], env, "litellm_settings", quiet)
            router = dataclasses.replace(router, redis=parse_redis({}, quiet, params))
    if raw.get("environment_variables"):
        notes.append(
            "environment_variables is not applied by pllm: set the variables in the "
            "process environment (os.environ/NAME and ${NAME} read them from there)"
        )
    notes += ignored.notes()
    return Settings(
        file=file,
        deployments=tuple(deployments),
        general=general,
        server=server,
        router=router,
        cache=cache,
        notes=tuple(notes),
        warnings=tuple(problems.warnings),
    )


def _section(
    raw: Mapping[str, Any],
    name: str,
    used: set[str],
    litellm: frozenset[str],
    env: Mapping[str, str],
    problems: Problems,
    ignored: IgnoredKeys,
) -> Any:
    """The keys of a shared pllm/LiteLLM section that pllm reads, their references resolved
    (a variable only an ignored key names need not be set); anything but a mapping as is,
    for its parser to refuse."""
    section = raw.get(name) or {}
    if not isinstance(section, dict):
        return section
    kept = sort_keys(section, used, litellm, name, problems, ignored)
    return interpolate(kept, env, name, problems)


def _parse_server(raw: Any, problems: Problems) -> ServerSettings:
    if not isinstance(raw, dict):
        problems.add("server", "must be a mapping")
        return ServerSettings()
    check_keys(raw, SERVER_KEYS, "server", problems)
    r = Reader(raw, "server", problems)
    port = r.integer("port", default=_SERVER.port, minimum=0)
    if port is not None and port > 65535:
        problems.add("server.port", "must be at most 65535")
    return ServerSettings(
        host=r.string("host") or _SERVER.host,
        port=port if port is not None else _SERVER.port,
        workers=r.integer("workers", default=1, minimum=1) or 1,
        backpressure=r.integer("backpressure", minimum=1),
        upstream_threads=r.integer("upstream_threads", default=1, minimum=1) or 1,
    )


def _check_cache_model(litellm: Any, configured: set[str], problems: Problems) -> None:
    """A semantic cache's embedding model must be one of model_list's names."""
    if not isinstance(litellm, dict) or not isinstance(litellm.get("cache_params"), dict):
        return
    params = litellm["cache_params"]
    for key in ("embedding_model", "redis_semantic_cache_embedding_model"):
        name = params.get(key)
        if isinstance(name, str) and name not in configured:
            problems.add(f"litellm_settings.cache_params.{key}", f"{name!r} is not in model_list")
