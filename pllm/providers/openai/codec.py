"""OpenAI's wire format, and every service that speaks it: one codec, configured by a table of
rows.

Adding a service is adding a row (default base URL, key variable, quirks), not a module. The
request passes through with only ``model`` rewritten, the reply passes through as bytes, and a
stream is re-framed, checked and read for usage entirely in Rust (the ``"openai"`` relays).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.errors import GatewayError
from pllm.providers.codec import (
    OPENAI_ENDPOINTS,
    RESPONSES_ENDPOINTS,
    Deployment,
    Endpoint,
    HttpTarget,
    Json,
    Outgoing,
    Relay,
    StreamTranslator,
    Target,
    usage_requested,
)
from pllm.providers.openai.responses import TAPPED, ResponsesPassThrough, responses_usage
from pllm.providers.openai.stream import OpenAIStream
from pllm.usage import Usage, usage_of_reply


@dataclass(frozen=True, slots=True)
class CompatRow:
    name: str
    # None: the deployment must give api_base (self-hosted servers).
    default_base: str | None
    key_env: str | None
    key_required: bool = True
    # Appended to a user-given api_base that lacks it (Ollama is configured without /v1).
    base_suffix: str = ""
    stream_usage: bool = True
    endpoints: frozenset[Endpoint] = OPENAI_ENDPOINTS


COMPAT_ROWS: dict[str, CompatRow] = {
    row.name: row
    for row in (
        CompatRow(
            "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", endpoints=RESPONSES_ENDPOINTS
        ),
        CompatRow("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        CompatRow("together_ai", "https://api.together.xyz/v1", "TOGETHERAI_API_KEY"),
        CompatRow("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", stream_usage=False),
        CompatRow("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
        CompatRow("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        CompatRow("xai", "https://api.x.ai/v1", "XAI_API_KEY"),
        CompatRow("fireworks_ai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_AI_API_KEY"),
        CompatRow("perplexity", "https://api.perplexity.ai", "PERPLEXITYAI_API_KEY"),
        CompatRow("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
        CompatRow("deepinfra", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY"),
        CompatRow("nvidia_nim", "https://integrate.api.nvidia.com/v1", "NVIDIA_NIM_API_KEY"),
        CompatRow("vllm", None, "VLLM_API_KEY", key_required=False),
        CompatRow("hosted_vllm", None, "HOSTED_VLLM_API_KEY", key_required=False),
        CompatRow("lm_studio", "http://localhost:1234/v1", None, key_required=False),
        CompatRow(
            "ollama", "http://localhost:11434/v1", None, key_required=False, base_suffix="/v1"
        ),
        CompatRow(
            "ollama_chat", "http://localhost:11434/v1", None, key_required=False, base_suffix="/v1"
        ),
    )
}


class _ErrorProbe(msgspec.Struct):
    # msgspec.Raw cannot sit in a union; an absent field stays an empty Raw.
    error: msgspec.Raw = msgspec.Raw()
    message: str | None = None


class _ErrorObject(msgspec.Struct):
    message: str | None = None
    code: str | int | None = None


_probe = msgspec.json.Decoder(_ErrorProbe)
_encode = msgspec.json.Encoder().encode
_error_object = msgspec.json.Decoder(_ErrorObject | str)

# Upstream headers worth handing to the client with an error (rate-limit hints).
_FORWARDED_ERROR_HEADERS = ("retry-after", "retry-after-ms")


def forwarded_error_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (k, v)
        for k, v in headers.items()
        if k in _FORWARDED_ERROR_HEADERS or k.startswith("x-ratelimit-")
    )


def map_openai_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    """An OpenAI-format error reply passes through untouched (status, body, rate-limit
    headers); anything else is wrapped into the OpenAI shape with the upstream's message."""
    err = _map_openai_error(status, headers, body)
    err.retryable = is_retryable_status(err.status)
    return err


def is_retryable_status(status: int) -> bool:
    """Statuses that say something about this deployment (its key, its limits, its health),
    not about the request: another deployment may well succeed."""
    return status in (401, 403, 404, 408, 409, 429) or status >= 500


def _map_openai_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    fwd = forwarded_error_headers(headers)
    if status < 400:
        status = 502
    try:
        probe = _probe.decode(body)
    except msgspec.DecodeError:
        probe = None
    if probe is not None and len(probe.error) > 0:
        try:
            obj = _error_object.decode(probe.error)
        except msgspec.DecodeError:
            obj = None
        if isinstance(obj, _ErrorObject) and obj.message is not None:
            code = None if obj.code is None else str(obj.code)
            return GatewayError(status, obj.message, code=code, headers=fwd, raw_body=body)
        if isinstance(obj, str):
            return GatewayError(status, obj, headers=fwd, code="upstream_error")
    if probe is not None and probe.message:
        return GatewayError(status, probe.message, headers=fwd, code="upstream_error")
    text = body[:500].decode("utf-8", "replace").strip()
    message = f"upstream returned HTTP {status}" + (f": {text}" if text else "")
    return GatewayError(status, message, headers=fwd, code="upstream_error")


class OpenAIFormat:
    """The OpenAI-format codec steps, shared by every OpenAI-compatible service, Azure and
    the in-process mock; they differ only in ``configure``."""

    name: str
    endpoints: frozenset[Endpoint] = OPENAI_ENDPOINTS
    # Whether the upstream accepts ``stream_options.include_usage`` (usage on streams).
    stream_usage = True
    # Whether the request is sent as bytes (an in-process target reads the dict instead).
    sends_bytes = True

    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: Json, *, stream: bool, usage_chunk: bool
    ) -> Outgoing:
        body = {**payload, "model": dep.upstream_model}
        relay: Relay = "none"
        if endpoint is Endpoint.RESPONSES:
            # Passed through: the stream's events as bytes, the terminal ones read for usage.
            return Outgoing(
                endpoint,
                body,
                _encode(body) if self.sends_bytes else b"",
                model=payload["model"],
                stream=stream,
                relay="tap" if stream else "none",
                tap=TAPPED if stream else (),
            )
        if stream:
            relay = "openai"
            if self.stream_usage and not usage_requested(body):
                # The gateway records every stream's usage: it asks for the usage chunk and,
                # when the client did not, the relay strips it again.
                options = body.get("stream_options")
                extra = options if isinstance(options, dict) else {}
                body["stream_options"] = {**extra, "include_usage": True}
                if not usage_chunk:
                    relay = "openai-strip-usage"
        return Outgoing(
            endpoint,
            body,
            _encode(body) if self.sends_bytes else b"",
            model=payload["model"],
            stream=stream,
            relay=relay,
            usage_chunk=usage_chunk,
        )

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        if out.endpoint is Endpoint.RESPONSES:
            return body, responses_usage(body)
        return body, usage_of_reply(body)

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        if out.endpoint is Endpoint.RESPONSES:
            return ResponsesPassThrough(dep.id)
        return OpenAIStream(dep.id)

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return map_openai_error(status, headers, body)


class OpenAICompatCodec(OpenAIFormat):
    """``openai/`` and every row of :data:`COMPAT_ROWS`."""

    def __init__(self, row: CompatRow) -> None:
        self.row = row
        self.name = row.name
        self.endpoints = row.endpoints
        self.stream_usage = row.stream_usage

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> Target | None:
        row = self.row
        base = cfg.api_base or row.default_base
        if base is None:
            problems.add(
                f"{cfg.path}.litellm_params.api_base",
                f"is required for {row.name}/ models (the server's URL, e.g. http://host:8000/v1)",
            )
            return None
        if cfg.api_base and row.base_suffix and not base.endswith(row.base_suffix):
            base += row.base_suffix
        key = cfg.api_key or (env.get(row.key_env) if row.key_env else None)
        if not key and row.key_required:
            hint = f" or set {row.key_env}" if row.key_env else ""
            problems.add(f"{cfg.path}.litellm_params.api_key", f"no API key: set api_key{hint}")
            return None
        headers = [("content-type", "application/json")]
        if key:
            headers.append(("authorization", f"Bearer {key}"))
        if cfg.organization:
            headers.append(("openai-organization", cfg.organization))
        headers.extend(cfg.extra_headers)
        urls = {e: f"{base}/{e.value}" for e in self.endpoints}
        return HttpTarget(urls=urls, headers=headers)
