"""Vertex AI: ``vertex_ai/...`` deployments, Gemini's models and Anthropic's.

Gemini on Vertex is Gemini's wire format (:class:`GeminiFormat`) at Vertex URLs, embeddings by
``:predict``. Claude on Vertex (``vertex_ai/claude-...``) is Anthropic's Messages API at
``:rawPredict``/``:streamRawPredict``, the body without ``model`` (it is in the URL) and with
``anthropic_version: vertex-2023-10-16``; the Anthropic codec's translators serve it, and
/v1/messages passes through. Every request carries a bearer token of the deployment's
credentials (see :mod:`tokens`), resolved per request by :class:`RequestTargets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.errors import GatewayError
from pllm.providers.anthropic.codec import AnthropicCodec
from pllm.providers.anthropic.request_to_anthropic import openai_to_anthropic_request
from pllm.providers.codec import (
    Codec,
    Deployment,
    Endpoint,
    HttpTarget,
    Json,
    Outgoing,
    StreamTranslator,
)
from pllm.providers.gemini.codec import GeminiFormat
from pllm.providers.gemini.embeddings import (
    openai_to_vertex_embeddings_request,
    vertex_to_openai_embeddings,
)
from pllm.providers.gemini.targets import RequestTargets
from pllm.providers.vertex.settings import vertex_deployment
from pllm.providers.vertex.tokens import AccessTokens
from pllm.usage import Usage

ANTHROPIC_VERSION = "vertex-2023-10-16"
# The events a pass-through Messages stream is read for (as the Anthropic codec reads them).
_TAPPED = ("message_start", "message_delta", "message_stop", "error")

_encode = msgspec.json.Encoder().encode


def is_claude(model: str) -> bool:
    return model.startswith("claude")


class VertexGeminiCodec(GeminiFormat):
    """``vertex_ai/`` deployments; :meth:`for_model` hands Claude models to
    :class:`VertexClaudeCodec`. Both share one token cache per credentials."""

    name = "vertex_ai"

    def __init__(self) -> None:
        self._tokens: dict[str, AccessTokens] = {}
        self._claude = VertexClaudeCodec(self._tokens)

    def for_model(self, model: str) -> Codec:
        return self._claude if is_claude(model) else self

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None:
        dep = vertex_deployment(cfg, env, problems, "google", self._tokens)
        if dep is None:
            return None
        url = dep.model_url
        urls = {Endpoint.CHAT: f"{url}:generateContent", Endpoint.EMBEDDINGS: f"{url}:predict"}
        streams = {Endpoint.CHAT: f"{url}:streamGenerateContent?alt=sse"}
        return RequestTargets(urls, streams, dep.headers, dep.tokens).http_target()

    def embeddings_request(self, payload: Json, model: str) -> dict[str, Any]:
        return openai_to_vertex_embeddings_request(payload)

    def embeddings_reply(self, body: bytes, payload: Json, model: str) -> tuple[bytes, Usage]:
        return vertex_to_openai_embeddings(body, payload, model)


class VertexClaudeCodec:
    """``vertex_ai/claude-...`` deployments: Anthropic's Messages API on Vertex AI."""

    name = "vertex_ai"
    endpoints = frozenset({Endpoint.CHAT, Endpoint.MESSAGES})

    def __init__(self, tokens: dict[str, AccessTokens]) -> None:
        self._tokens = tokens
        # Replies, streams and errors are Anthropic's own: its codec reads them.
        self._anthropic = AnthropicCodec()

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None:
        dep = vertex_deployment(cfg, env, problems, "anthropic", self._tokens)
        if dep is None:
            return None
        url = dep.model_url
        urls = {e: f"{url}:rawPredict" for e in self.endpoints}
        streams = {e: f"{url}:streamRawPredict" for e in self.endpoints}
        return RequestTargets(urls, streams, dep.headers, dep.tokens).http_target()

    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: Json, *, stream: bool, usage_chunk: bool
    ) -> Outgoing:
        model = payload["model"]
        if endpoint is Endpoint.CHAT:
            body = openai_to_anthropic_request(payload, dep.upstream_model)
        else:
            body = dict(payload)
        body.pop("model", None)
        body.setdefault("anthropic_version", ANTHROPIC_VERSION)
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        if not stream:
            return Outgoing(endpoint, body, _encode(body), model=model, stream=False)
        if endpoint is Endpoint.CHAT:
            return Outgoing(
                endpoint,
                body,
                _encode(body),
                model=model,
                stream=True,
                relay="events",
                usage_chunk=usage_chunk,
            )
        return Outgoing(
            endpoint, body, _encode(body), model=model, stream=True, relay="tap", tap=_TAPPED
        )

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        return self._anthropic.decode(dep, out, body)

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        return self._anthropic.translator(dep, out)

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return self._anthropic.error(status, headers, body)
