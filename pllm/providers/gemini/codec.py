"""Gemini's wire format: ``gemini/...`` deployments (Google AI Studio), and the steps Vertex
AI's Gemini deployments share with them.

Chat completions are translated both ways by this folder's pure translators; a stream comes
from ``:streamGenerateContent?alt=sse``, its events parked by the native client for
:class:`GeminiToOpenAIStream`. Embeddings use ``:batchEmbedContents``. Auth is
``x-goog-api-key``. ``api_base`` means what it does in LiteLLM: the URL up to the API version
(``https://generativelanguage.googleapis.com/v1beta``), to which ``/models/<model>:<method>``
is appended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.errors import GatewayError
from pllm.providers.codec import (
    Batch,
    Deployment,
    Ending,
    Endpoint,
    HttpTarget,
    Json,
    Outgoing,
    Relay,
    StreamSource,
    StreamTranslator,
    invalid_reply,
    judged,
    truncated,
)
from pllm.providers.gemini.embeddings import (
    gemini_to_openai_embeddings,
    openai_to_gemini_embeddings_request,
)
from pllm.providers.gemini.errors import map_google_error
from pllm.providers.gemini.request_to_gemini import openai_to_gemini_request
from pllm.providers.gemini.response_from_gemini import gemini_to_openai_response
from pllm.providers.gemini.stream_from_gemini import GeminiToOpenAIStream
from pllm.providers.gemini.targets import RequestTargets
from pllm.usage import Usage

DEFAULT_BASE = "https://generativelanguage.googleapis.com/v1beta"
KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

_encode = msgspec.json.Encoder().encode
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


@dataclass(slots=True)
class EmbeddingsOutgoing(Outgoing):
    """An embeddings request, with the client's request its reply is read against (the
    vectors' encoding, the inputs' size)."""

    client: Json = field(default_factory=dict)


def model_id(dep: Deployment) -> str:
    return dep.upstream_model.removeprefix("models/")


class GeminiFormat:
    """The codec steps of Gemini's format (Google AI Studio and Vertex AI alike); they
    differ in ``configure`` and in the embeddings method."""

    name: str
    endpoints = frozenset({Endpoint.CHAT, Endpoint.EMBEDDINGS})

    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: Json, *, stream: bool, usage_chunk: bool
    ) -> Outgoing:
        model = payload["model"]
        if endpoint is Endpoint.EMBEDDINGS:
            body = self.embeddings_request(payload, model_id(dep))
            return EmbeddingsOutgoing(
                endpoint, body, _encode(body), model=model, stream=False, client=payload
            )
        body = openai_to_gemini_request(payload, model_id(dep))
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

    def embeddings_request(self, payload: Json, model: str) -> dict[str, Any]:
        return openai_to_gemini_embeddings_request(payload, model)

    def embeddings_reply(self, body: bytes, payload: Json, model: str) -> tuple[bytes, Usage]:
        return gemini_to_openai_embeddings(body, payload, model)

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            if isinstance(out, EmbeddingsOutgoing):
                return self.embeddings_reply(body, out.client, model_id(dep))
            return gemini_to_openai_response(body, model_id(dep))
        except _DECODE_ERRORS:
            raise invalid_reply(dep.id) from None

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        config = out.payload.get("generationConfig") or {}
        candidates = config.get("candidateCount") or 1
        return GeminiAsOpenAI(
            dep.id, model_id(dep), include_usage=out.usage_chunk, candidates=candidates
        )

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return map_google_error(status, headers, body)


class GeminiCodec(GeminiFormat):
    """``gemini/`` deployments: Google AI Studio's Gemini API with an API key."""

    name = "gemini"

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None:
        key = cfg.api_key or next((env[k] for k in KEY_ENVS if env.get(k)), None)
        if not key:
            problems.add(
                f"{cfg.path}.litellm_params.api_key",
                f"no API key: set api_key or {KEY_ENVS[0]}",
            )
            return None
        base = (cfg.api_base or env.get("GEMINI_API_BASE") or DEFAULT_BASE).rstrip("/")
        model = f"{base}/models/{cfg.upstream_model.removeprefix('models/')}"
        headers = [("content-type", "application/json"), ("x-goog-api-key", key)]
        headers.extend(cfg.extra_headers)
        urls = {
            Endpoint.CHAT: f"{model}:generateContent",
            Endpoint.EMBEDDINGS: f"{model}:batchEmbedContents",
        }
        streams = {Endpoint.CHAT: f"{model}:streamGenerateContent?alt=sse"}
        return RequestTargets(urls, streams, headers).http_target()


class GeminiAsOpenAI:
    """A Gemini stream relayed as OpenAI chunks (the pump parks every event)."""

    __slots__ = ("_deployment", "_translator")

    def __init__(
        self, deployment: str, model: str, *, include_usage: bool, candidates: int = 1
    ) -> None:
        self._deployment = deployment
        self._translator = GeminiToOpenAIStream(
            model, include_usage=include_usage, candidates=candidates
        )

    def feed(self, batch: Batch) -> bytes:
        feed = self._translator.feed
        return b"".join([feed(ev.data) for ev in batch.events])

    @property
    def stopped(self) -> bool:
        return self._translator.failure is not None

    def usage(self, source: StreamSource) -> Usage | None:
        return self._translator.usage

    def finish(self, source: StreamSource) -> Ending:
        t = self._translator
        how = "in the middle of an event" if source.truncated else "before every candidate finished"
        return judged(t.failure, t.done) or Ending(truncated(self._deployment, how))
