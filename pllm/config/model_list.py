"""``model_list``: one :class:`DeploymentConfig` per entry, LiteLLM's format.

An entry is ``model_name`` (what clients ask for; a pattern with ``*`` for a wildcard entry),
``litellm_params`` (``model: provider/name`` and the upstream's settings), and optionally
``model_info``, ``rpm``/``tpm`` (on the entry or in ``litellm_params``), ``priority``,
``weight`` and pllm's ``requires_env``.

- ``model`` names its provider by its prefix; a bare name (``gpt-4o``) gets its provider from
  the price table's model list (:mod:`pllm.config.bare`), an unknown bare name is an error.
- A wildcard entry (``model_name: "openai/*"``, ``model: "openai/*"``) serves every name the
  pattern matches, the text the ``*`` stood for passed upstream in place of the ``*``.
- ``model_info`` is kept; pllm reads ``mode`` (which endpoints the deployment serves),
  ``base_model`` (the model it is priced as) and its prices.
- A variable its ``litellm_params`` name (``api_key: os.environ/ANTHROPIC_API_KEY``) that is
  not set leaves the deployment unconfigured: a warning naming the variable, and the rest of
  the config serves (the deployment's requests get 503 ``deployment_unconfigured``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pllm.config.bare import provider_of
from pllm.config.interpolate import interpolate, unset
from pllm.config.keys import LITELLM_PARAMS, IgnoredKeys, sort_keys
from pllm.config.problems import Problems
from pllm.config.reader import Reader
from pllm.config.schema import DeploymentConfig, MockParams, Timeouts

ENTRY_KEYS = {
    "model_name",
    "litellm_params",
    "priority",
    "weight",
    "model_info",
    "requires_env",
    "rpm",
    "tpm",
}
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
    "weight",
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
    "adaptive_router_config",  # an auto_router/ entry's (pllm.routing.auto)
}
# LiteLLM's model_info.mode values pllm has endpoints for (chat and completion models serve
# chat and completions; embedding models embeddings).
SERVED_MODES = ("chat", "completion", "responses", "embedding")
_PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost")
# Instances, not the classes: slotted dataclass attributes are descriptors on the class.
_TIMEOUTS = Timeouts()


def parse_model_list(
    value: Any, env: Mapping[str, str], problems: Problems, notes: list[str], ignored: IgnoredKeys
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
        dep = _parse_entry(i, entry, env, problems, ignored)
        if dep is not None:
            out.append(dep)
    if not out and not problems:
        problems.add("model_list", "every entry was skipped: no model is available")
    return out


def _parse_entry(
    index: int,
    entry: dict[str, Any],
    env: Mapping[str, str],
    problems: Problems,
    ignored: IgnoredKeys,
) -> DeploymentConfig | None:
    path = f"model_list[{index}]"
    sort_keys(entry, ENTRY_KEYS, (), path, problems, ignored)
    before = len(problems.items)
    model_name = entry.get("model_name")
    if not isinstance(model_name, str) or not model_name.strip():
        problems.add(f"{path}.model_name", "is required and must be a non-empty string")
        model_name = ""
    model_name = model_name.strip()
    params_raw = entry.get("litellm_params")
    if not isinstance(params_raw, dict):
        problems.add(f"{path}.litellm_params", "is required and must be a mapping")
        return None
    ppath = f"{path}.litellm_params"
    info = _model_info(entry.get("model_info"), path, problems)
    info_reader = Reader(info, f"{path}.model_info", problems)
    mode = info_reader.string("mode")
    if mode is not None and mode not in SERVED_MODES:
        problems.warn(
            f"{path}.model_info.mode",
            f"pllm serves no endpoint for mode {mode!r} (it serves {', '.join(SERVED_MODES)}): "
            f"{model_name or 'this entry'!s} is skipped",
        )
        return None
    kept = sort_keys(
        params_raw, PARAM_KEYS | PROVIDER_PARAM_KEYS, LITELLM_PARAMS, ppath, problems, ignored
    )
    # A reference to a variable that is not set leaves the deployment unconfigured, named in
    # a warning; the key is left out, so nothing else reports it.
    missing: list[str] = []
    for key in list(kept):
        names = unset(kept[key], env)
        if names:
            missing += [n for n in names if n not in missing]
            del kept[key]
    if missing:
        problems.warn(
            ppath,
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
            f"{model_name or 'this entry'!s} is not configured (its requests get 503 "
            "deployment_unconfigured; the other models serve)",
        )
    params = interpolate(kept, env, ppath, problems)
    reader = Reader(params, ppath, problems)
    entry_reader = Reader(entry, path, problems)
    provider, upstream_model = _model(reader.string("model", required=True), ppath, problems)
    _check_wildcard(model_name, provider, upstream_model, path, problems)
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
    api_base = reader.string("api_base") or reader.string("base_url")
    # LiteLLM puts rpm, tpm and weight in litellm_params or on the entry; litellm_params wins.
    pick = reader if "weight" in params else entry_reader
    prices = {k: _price(reader if k in params else info_reader, k) for k in _PRICE_KEYS}
    dep = DeploymentConfig(
        index=index,
        model_name=model_name,
        provider=provider,
        upstream_model=upstream_model,
        api_key=reader.string("api_key", secret=True) or None,
        api_base=api_base.rstrip("/") if api_base else None,
        api_version=reader.string("api_version"),
        organization=reader.string("organization"),
        extra_headers=tuple(headers_raw.items()),
        rpm=(reader if "rpm" in params else entry_reader).integer("rpm", minimum=0),
        tpm=(reader if "tpm" in params else entry_reader).integer("tpm", minimum=0),
        max_in_flight=reader.integer("max_parallel_requests", minimum=1),
        priority=entry_reader.integer("priority", default=0) or 0,
        weight=pick.number("weight", default=1.0, minimum=0.0),
        timeouts=timeouts,
        mock=mock,
        input_cost_per_token=prices["input_cost_per_token"],
        output_cost_per_token=prices["output_cost_per_token"],
        cached_input_cost_per_token=prices["cache_read_input_token_cost"],
        provider_params={k: v for k, v in params.items() if k in PROVIDER_PARAM_KEYS},
        unset_env=tuple(missing),
        mode=mode,
        base_model=_base_model(info_reader.string("base_model")),
        model_info=info,
    )
    return dep if len(problems.items) == before else None


def _model(model: str | None, path: str, problems: Problems) -> tuple[str, str]:
    """``provider/name`` split; a bare name's provider from the price table's list."""
    if model is None:
        return "", ""
    provider, sep, upstream = model.partition("/")
    if sep:
        if not provider or not upstream:
            problems.add(
                f"{path}.model", "must look like 'provider/model-name', e.g. openai/gpt-4o"
            )
        return provider, upstream
    found = provider_of(model)
    if found is None:
        problems.add(
            f"{path}.model",
            f"{model!r} names no provider and is not a model pllm knows: write it as "
            f"'provider/model-name', e.g. 'openai/{model}' or 'hosted_vllm/{model}'",
        )
        return "", ""
    return found, model


def _check_wildcard(
    model_name: str, provider: str, upstream: str, path: str, problems: Problems
) -> None:
    """``*`` in ``model`` stands for what the ``*`` of ``model_name`` matched."""
    if "*" in provider:
        problems.add(f"{path}.litellm_params.model", "the provider cannot be a wildcard")
    stars = upstream.count("*")
    if stars and "*" not in model_name:
        problems.add(
            f"{path}.litellm_params.model",
            "has a '*' but model_name has none: a wildcard entry's model_name is a pattern "
            "too, e.g. model_name: 'openai/*' with model: 'openai/*'",
        )
    elif stars > model_name.count("*"):
        problems.add(
            f"{path}.litellm_params.model", "has more '*' than model_name has to fill them"
        )


def _model_info(value: Any, path: str, problems: Problems) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(f"{path}.model_info", "must be a mapping")
        return {}
    return {str(k): v for k, v in value.items()}


def _base_model(value: str | None) -> str | None:
    """``azure/gpt-4o`` and ``gpt-4o`` both price as ``gpt-4o``."""
    if not value:
        return None
    return value.rsplit("/", 1)[-1] if "/" in value else value


def _price(reader: Reader, key: str) -> float | None:
    if reader.data.get(key) is None:
        return None
    return reader.number(key, default=0.0, minimum=0.0)
