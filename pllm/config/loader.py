"""Reads ``config.yaml`` into :class:`Settings`, reporting every problem at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pllm.config.general import parse_general
from pllm.config.interpolate import interpolate
from pllm.config.problems import ConfigError, Problems, suggestion
from pllm.config.reader import Reader
from pllm.config.router import parse_router, prune_chains
from pllm.config.schema import (
    DeploymentConfig,
    MockParams,
    ServerSettings,
    Settings,
    Timeouts,
)

TOP_LEVEL = {
    "model_list",
    "general_settings",
    "router_settings",
    "litellm_settings",
    "server",
    "environment_variables",
}
ENTRY_KEYS = {"model_name", "litellm_params", "priority", "weight", "model_info", "requires_env"}
PARAM_KEYS = {
    "model",
    "api_key",
    "api_base",
    "base_url",
    "api_version",
    "organization",
    "extra_headers",
    "rpm",
    "tpm",
    "timeout",
    "stream_timeout",
    "connect_timeout",
    "chunk_timeout",
    "max_parallel_requests",
    "mock_response",
    "mock_reply_tokens",
    "mock_latency_ms",
    "mock_ttft_ms",
    "mock_tokens_per_second",
    "mock_embedding_dim",
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
}
# Parameters of one provider family, kept for its codec (DeploymentConfig.provider_params).
PROVIDER_PARAM_KEYS = {
    "vertex_project",
    "vertex_location",
    "vertex_credentials",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region_name",
    "aws_bedrock_runtime_endpoint",
}
# LiteLLM parameters that load fine but have no effect in pllm yet.
LITELLM_PARAMS_IGNORED = {
    "max_retries",
    "num_retries",
    "custom_llm_provider",
    "drop_params",
    "max_tokens",
    "temperature",
    "tags",
    "region_name",
    "seed",
    "base_model",
    "use_in_pass_through",
    "litellm_credential_name",
    "merge_reasoning_content_in_choices",
}
SERVER_KEYS = {"host", "port", "workers", "backpressure", "upstream_threads"}
# Instances, not the classes: slotted dataclass attributes are descriptors on the class.
_TIMEOUTS = Timeouts()
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
        raise ConfigError(problems.items)
    return settings


def parse_settings(
    raw: dict[str, Any], file: str, env: Mapping[str, str], problems: Problems
) -> Settings:
    check_keys(raw, TOP_LEVEL, "", problems)
    notes: list[str] = []
    deployments = _parse_model_list(raw.get("model_list"), env, problems, notes)
    general = parse_general(
        interpolate(raw.get("general_settings") or {}, env, "general_settings", problems),
        problems,
        Path(file).resolve().parent,
    )
    server = _parse_server(interpolate(raw.get("server") or {}, env, "server", problems), problems)
    router = parse_router(
        interpolate(raw.get("router_settings") or {}, env, "router_settings", problems), problems
    )
    configured = {
        e["model_name"]
        for e in raw.get("model_list") or []
        if isinstance(e, dict) and isinstance(e.get("model_name"), str)
    }
    active = {d.model_name for d in deployments}
    router = prune_chains(router, configured, active, problems, notes)
    if raw.get("litellm_settings"):
        notes.append("litellm_settings is accepted and ignored")
    return Settings(
        file=file,
        deployments=tuple(deployments),
        general=general,
        server=server,
        router=router,
        notes=tuple(notes),
    )


def check_keys(section: Mapping[str, Any], known: set[str], path: str, problems: Problems) -> None:
    for key in section:
        if key in known:
            continue
        where = f"{path}.{key}" if path else str(key)
        hint = suggestion(str(key), known)
        problems.add(where, f"unknown key (did you mean {hint!r}?)" if hint else "unknown key")


def _parse_model_list(
    value: Any, env: Mapping[str, str], problems: Problems, notes: list[str]
) -> list[DeploymentConfig]:
    if value is None:
        problems.add("model_list", "is missing: configure at least one model")
        return []
    if not isinstance(value, list) or not value:
        problems.add("model_list", "must be a non-empty list of model entries")
        return []
    out: list[DeploymentConfig] = []
    for i, entry in enumerate(value):
        path = f"model_list[{i}]"
        if not isinstance(entry, dict):
            problems.add(path, "must be a mapping with model_name and litellm_params")
            continue
        required = entry.get("requires_env")
        if required is not None:
            names = [required] if isinstance(required, str) else required
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                problems.add(f"{path}.requires_env", "must be a variable name or a list of them")
                continue
            missing = [n for n in names if not env.get(n)]
            if missing:
                notes.append(
                    f"{path} ({entry.get('model_name')!s}) skipped: {', '.join(missing)} not set"
                )
                continue
        dep = _parse_entry(i, entry, env, problems, notes)
        if dep is not None:
            out.append(dep)
    if not out and not problems:
        problems.add("model_list", "every entry was skipped: no model is available")
    return out


def _parse_entry(
    index: int, entry: dict[str, Any], env: Mapping[str, str], problems: Problems, notes: list[str]
) -> DeploymentConfig | None:
    path = f"model_list[{index}]"
    check_keys(entry, ENTRY_KEYS, path, problems)
    before = len(problems.items)
    model_name = entry.get("model_name")
    if not isinstance(model_name, str) or not model_name.strip():
        problems.add(f"{path}.model_name", "is required and must be a non-empty string")
    params_raw = entry.get("litellm_params")
    if not isinstance(params_raw, dict):
        problems.add(f"{path}.litellm_params", "is required and must be a mapping")
        return None
    ppath = f"{path}.litellm_params"
    for key in params_raw:
        if key in PARAM_KEYS or key in PROVIDER_PARAM_KEYS:
            continue
        if key in LITELLM_PARAMS_IGNORED:
            notes.append(f"{ppath}.{key} is a LiteLLM setting pllm ignores")
            continue
        hint = suggestion(str(key), PARAM_KEYS)
        if hint:
            problems.add(f"{ppath}.{key}", f"unknown key (did you mean {hint!r}?)")
        else:
            notes.append(f"{ppath}.{key} is not a pllm setting and is ignored")
    params = interpolate(params_raw, env, ppath, problems)
    reader = Reader(params, ppath, problems)
    model = reader.string("model", required=True)
    provider, upstream_model = "", ""
    if model is not None:
        provider, sep, upstream_model = model.partition("/")
        if not sep or not provider or not upstream_model:
            problems.add(
                f"{ppath}.model", "must look like 'provider/model-name', e.g. openai/gpt-4o"
            )
    headers_raw = params.get("extra_headers") or {}
    if not isinstance(headers_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers_raw.items()
    ):
        problems.add(f"{ppath}.extra_headers", "must map header names to string values")
        headers_raw = {}
    first_byte = reader.number("timeout", default=_TIMEOUTS.first_byte, minimum=0.001)
    timeouts = Timeouts(
        connect=reader.number("connect_timeout", default=_TIMEOUTS.connect, minimum=0.001),
        first_byte=first_byte,
        stream_first_byte=reader.number("stream_timeout", default=first_byte, minimum=0.001),
        chunk=reader.number("chunk_timeout", default=_TIMEOUTS.chunk, minimum=0.001),
    )
    mock = MockParams(
        response=reader.string("mock_response"),
        reply_tokens=reader.integer("mock_reply_tokens", default=16, minimum=1) or 16,
        latency_ms=reader.number("mock_latency_ms", default=0.0, minimum=0.0),
        ttft_ms=reader.number("mock_ttft_ms", default=0.0, minimum=0.0),
        tokens_per_second=reader.number("mock_tokens_per_second", default=0.0, minimum=0.0),
        embedding_dim=reader.integer("mock_embedding_dim", default=8, minimum=1) or 8,
    )
    priority = Reader(entry, path, problems).integer("priority", default=0) or 0
    weight = Reader(entry, path, problems).number("weight", default=1.0, minimum=0.0)
    api_base = reader.string("api_base") or reader.string("base_url")
    dep = DeploymentConfig(
        index=index,
        model_name=model_name.strip() if isinstance(model_name, str) else "",
        provider=provider,
        upstream_model=upstream_model,
        api_key=reader.string("api_key", secret=True) or None,
        api_base=api_base.rstrip("/") if api_base else None,
        api_version=reader.string("api_version"),
        organization=reader.string("organization"),
        extra_headers=tuple(headers_raw.items()),
        rpm=reader.integer("rpm", minimum=0),
        max_in_flight=reader.integer("max_parallel_requests", minimum=1),
        tpm=reader.integer("tpm", minimum=0),
        priority=priority,
        weight=weight,
        timeouts=timeouts,
        mock=mock,
        input_cost_per_token=_price(reader, "input_cost_per_token"),
        output_cost_per_token=_price(reader, "output_cost_per_token"),
        cached_input_cost_per_token=_price(reader, "cache_read_input_token_cost"),
        provider_params={k: v for k, v in params.items() if k in PROVIDER_PARAM_KEYS},
    )
    return dep if len(problems.items) == before else None


def _price(reader: Reader, key: str) -> float | None:
    if reader.data.get(key) is None:
        return None
    return reader.number(key, default=0.0, minimum=0.0)


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
