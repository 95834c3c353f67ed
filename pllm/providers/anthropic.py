"""Anthropic's Messages API: ``anthropic/claude-...`` deployments.

The deployment serves OpenAI chat completions (translated, see :mod:`pllm.translate`) and
Anthropic's own /v1/messages and /v1/messages/count_tokens (passed through). Auth is
``x-api-key``; ``anthropic-version`` is pinned and ``anthropic-beta`` (or any header) comes
from the deployment's ``extra_headers``.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.errors import GatewayError
from pllm.providers.base import Endpoint, HttpTarget
from pllm.translate.errors import openai_error_from_anthropic

DEFAULT_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
KEY_ENV = "ANTHROPIC_API_KEY"

_URL_PATHS = {
    Endpoint.CHAT: "/v1/messages",
    Endpoint.MESSAGES: "/v1/messages",
    Endpoint.COUNT_TOKENS: "/v1/messages/count_tokens",
}


class _Error(msgspec.Struct):
    type: str | None = None
    message: str | None = None


class _ErrorReply(msgspec.Struct):
    error: _Error | None = None


_decode_error = msgspec.json.Decoder(_ErrorReply).decode


def _forwarded(headers: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (k, v)
        for k, v in headers
        if k in ("retry-after", "request-id") or k.startswith("anthropic-ratelimit-")
    )


def map_anthropic_error(status: int, headers: list[tuple[str, str]], body: bytes) -> GatewayError:
    try:
        err = _decode_error(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        err = None
    if err is not None and err.message:
        return openai_error_from_anthropic(status, err.type, err.message, _forwarded(headers))
    text = body[:500].decode("utf-8", "replace").strip()
    message = f"upstream returned HTTP {status}" + (f": {text}" if text else "")
    return openai_error_from_anthropic(status, None, message, _forwarded(headers))


class AnthropicProvider:
    name = "anthropic"
    endpoints = frozenset(_URL_PATHS)

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None:
        base = (cfg.api_base or env.get("ANTHROPIC_API_BASE") or DEFAULT_BASE).rstrip("/")
        # Accept a base given the OpenAI way, ending in /v1.
        base = base.removesuffix("/v1")
        key = cfg.api_key or env.get(KEY_ENV)
        if not key:
            problems.add(
                f"{cfg.path}.litellm_params.api_key", f"no API key: set api_key or {KEY_ENV}"
            )
            return None
        given = {k.lower() for k, _ in cfg.extra_headers}
        headers = [("content-type", "application/json"), ("x-api-key", key)]
        if "anthropic-version" not in given:
            headers.append(("anthropic-version", API_VERSION))
        headers.extend(cfg.extra_headers)
        urls = {e: base + path for e, path in _URL_PATHS.items()}
        return HttpTarget(urls=urls, headers=headers, wire="anthropic")

    def map_error(self, status: int, headers: list[tuple[str, str]], body: bytes) -> GatewayError:
        return map_anthropic_error(status, headers, body)
