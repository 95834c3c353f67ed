"""Anthropic's Messages API: ``anthropic/claude-...`` deployments.

The deployment serves OpenAI chat completions (translated both ways by this folder's pure
translators) and Anthropic's own /v1/messages and /v1/messages/count_tokens (passed through:
only ``model`` is rewritten, the reply's bytes go back as they came and the usage is read on
the side). Auth is ``x-api-key``; ``anthropic-version`` is pinned and ``anthropic-beta`` (or any
header) comes from the deployment's ``extra_headers``.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.errors import GatewayError
from pllm.providers.anthropic.errors import openai_error_from_anthropic
from pllm.providers.anthropic.request_to_anthropic import openai_to_anthropic_request
from pllm.providers.anthropic.response_from_anthropic import anthropic_to_openai_response
from pllm.providers.anthropic.stream_from_anthropic import AnthropicToOpenAIStream
from pllm.providers.anthropic.usage import AnthropicUsage
from pllm.providers.codec import (
    COMPLETE,
    Batch,
    Deployment,
    Ending,
    Endpoint,
    HttpTarget,
    Json,
    Outgoing,
    ParkedEventsAsOpenAI,
    Relay,
    StreamSource,
    StreamTranslator,
    invalid_reply,
    truncated,
)
from pllm.usage import Usage

DEFAULT_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
KEY_ENV = "ANTHROPIC_API_KEY"

_URL_PATHS = {
    Endpoint.CHAT: "/v1/messages",
    Endpoint.MESSAGES: "/v1/messages",
    Endpoint.COUNT_TOKENS: "/v1/messages/count_tokens",
}
# The events a pass-through stream is read for (usage, its end, an in-band error); every
# other event only passes through as bytes.
_TAPPED = ("message_start", "message_delta", "message_stop", "error")

_encode = msgspec.json.Encoder().encode


class _Error(msgspec.Struct):
    type: str | None = None
    message: str | None = None


class _ErrorReply(msgspec.Struct):
    error: _Error | None = None


class _Message(msgspec.Struct):
    usage: AnthropicUsage | None = None


class _UsageProbe(msgspec.Struct):
    message: _Message | None = None
    usage: AnthropicUsage | None = None


_decode_error = msgspec.json.Decoder(_ErrorReply).decode
_probe = msgspec.json.Decoder(_UsageProbe).decode
_reply_usage = msgspec.json.Decoder(_Message).decode


def _forwarded(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (k, v)
        for k, v in headers.items()
        if k in ("retry-after", "request-id") or k.startswith("anthropic-ratelimit-")
    )


def map_anthropic_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    try:
        err = _decode_error(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        err = None
    if err is not None and err.message:
        return openai_error_from_anthropic(status, err.type, err.message, _forwarded(headers))
    text = body[:500].decode("utf-8", "replace").strip()
    message = f"upstream returned HTTP {status}" + (f": {text}" if text else "")
    return openai_error_from_anthropic(status, None, message, _forwarded(headers))


class AnthropicCodec:
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
        return HttpTarget(urls=urls, headers=headers)

    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: Json, *, stream: bool, usage_chunk: bool
    ) -> Outgoing:
        model = payload["model"]
        if endpoint is Endpoint.CHAT:
            body = openai_to_anthropic_request(payload, dep.upstream_model)
            relay: Relay = "events" if stream else "none"
            return Outgoing(
                endpoint,
                body,
                _encode(body),
                model=model,
                stream=stream,
                relay=relay,
                usage_chunk=usage_chunk,
            )
        # Messages and count_tokens: the client's own request, for another model name.
        body = {**payload, "model": dep.upstream_model}
        if stream:
            return Outgoing(
                endpoint, body, _encode(body), model=model, stream=True, relay="tap", tap=_TAPPED
            )
        return Outgoing(endpoint, body, _encode(body), model=model, stream=False)

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        if out.endpoint is Endpoint.CHAT:
            try:
                return anthropic_to_openai_response(body)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise invalid_reply(dep.id) from None
        if out.endpoint is Endpoint.COUNT_TOKENS:
            return body, None
        try:
            usage = _reply_usage(body).usage
        except (msgspec.DecodeError, msgspec.ValidationError):
            usage = None
        return body, usage.gateway_usage() if usage is not None else None

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        if out.endpoint is Endpoint.CHAT:
            translator = AnthropicToOpenAIStream(include_usage=out.usage_chunk)
            return ParkedEventsAsOpenAI(dep.id, translator, _CUT)
        return MessagesPassThrough(dep.id)

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return map_anthropic_error(status, headers, body)


class MessagesPassThrough:
    """Anthropic's own stream to a Messages client: the bytes pass through as they came; the
    tapped events give the usage, the end and an in-band error."""

    __slots__ = ("_deployment", "_done", "_error", "_usage")

    def __init__(self, deployment: str) -> None:
        self._deployment = deployment
        self._usage = AnthropicUsage()
        self._done = False
        self._error = False

    def feed(self, batch: Batch) -> bytes:
        for ev in batch.events:
            name = ev.event
            if name == "message_start" or name == "message_delta":
                try:
                    probe = _probe(ev.data)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
                found = probe.message.usage if probe.message is not None else probe.usage
                if found is not None:
                    self._usage.merge(found)
            elif name == "message_stop":
                self._done = True
            elif name == "error":
                self._error = True
        return batch.out

    @property
    def stopped(self) -> bool:
        return False

    def usage(self, source: StreamSource) -> Usage | None:
        return self._usage.gateway_usage()

    def finish(self, source: StreamSource) -> Ending:
        if self._error:
            return Ending(relayed_error="upstream_error")
        return COMPLETE if self._done else Ending(truncated(self._deployment, "early"))


# Where an Anthropic stream ended early: inside an event, or between events.
_CUT = ("in the middle of an event", "before message_stop")
