"""Amazon Bedrock: ``bedrock/...`` deployments.

Chat completions go to the Converse API (``POST /model/<id>/converse``), which speaks one
format for every model family on Bedrock; streams to ``/converse-stream``, whose
``application/vnd.amazon.eventstream`` frames the native client decodes (the ``eventstream``
relay) and parks for :class:`BedrockToOpenAIStream`. Embedding models (Titan, Cohere) are a
codec of their own (``/invoke``), picked by the model name (:meth:`BedrockCodec.for_model`),
so that the router never sends chat to one. Every request is signed (SigV4, see
:mod:`signing`), or carries a Bedrock API key (``api_key``, else ``AWS_BEARER_TOKEN_BEDROCK``)
as a bearer token.

Model names as LiteLLM's: ``bedrock/<model id>``, ``bedrock/converse/<model id>`` (and
``bedrock/invoke/<model id>``, served by Converse too), where the id is a model id
(``anthropic.claude-3-5-sonnet-20240620-v1:0``), an inference profile
(``us.amazon.nova-pro-v1:0``) or an ARN; it is URL-encoded into the path (``:`` as ``%3A``).
The endpoint is ``aws_bedrock_runtime_endpoint`` (else ``api_base``, else
``AWS_BEDROCK_RUNTIME_ENDPOINT``, else ``https://bedrock-runtime.<region>.amazonaws.com``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import msgspec

from pllm.config import DeploymentConfig
from pllm.config.problems import Problems
from pllm.errors import GatewayError
from pllm.providers.bedrock.embeddings import (
    bedrock_to_openai_embeddings,
    is_embedding_model,
    openai_to_bedrock_embeddings_request,
)
from pllm.providers.bedrock.errors import map_bedrock_error
from pllm.providers.bedrock.request_to_bedrock import openai_to_bedrock_request
from pllm.providers.bedrock.response_from_bedrock import bedrock_to_openai_response
from pllm.providers.bedrock.signing import (
    SignedTargets,
    Signer,
    find_credentials,
    find_region,
)
from pllm.providers.bedrock.stream_from_bedrock import BedrockToOpenAIStream
from pllm.providers.codec import (
    Codec,
    Deployment,
    Endpoint,
    HttpTarget,
    Json,
    Outgoing,
    ParkedEventsAsOpenAI,
    StreamTranslator,
    invalid_reply,
)
from pllm.providers.gemini.targets import RequestTargets
from pllm.usage import Usage

BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
ENDPOINT_ENV = "AWS_BEDROCK_RUNTIME_ENDPOINT"

_encode = msgspec.json.Encoder().encode
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


def model_id(upstream_model: str) -> str:
    """The Bedrock model id of a deployment's model (LiteLLM's route prefixes taken off)."""
    for route in ("converse/", "invoke/"):
        if upstream_model.startswith(route):
            return upstream_model[len(route) :]
    return upstream_model


def model_url(base: str, upstream_model: str) -> str:
    return f"{base}/model/{quote(model_id(upstream_model), safe='')}"


def _base_url(cfg: DeploymentConfig, env: Mapping[str, str], region: str) -> str:
    given = cfg.provider_params.get("aws_bedrock_runtime_endpoint")
    base = (
        (given if isinstance(given, str) and given else None)
        or cfg.api_base
        or env.get(ENDPOINT_ENV)
        or f"https://bedrock-runtime.{region}.amazonaws.com"
    )
    return base.rstrip("/")


def bedrock_target(
    cfg: DeploymentConfig,
    env: Mapping[str, str],
    problems: Problems,
    urls: Mapping[Endpoint, str],
    stream_urls: Mapping[Endpoint, str],
) -> HttpTarget | None:
    """The deployment's target (paths relative to its model's URL), signed or with a bearer
    key; None after adding what is wrong to ``problems``."""
    params = cfg.provider_params
    region = find_region(params, env)
    base = model_url(_base_url(cfg, env, region), cfg.upstream_model)
    full = {e: base + path for e, path in urls.items()}
    streams = {e: base + path for e, path in stream_urls.items()}
    headers = [("content-type", "application/json"), *cfg.extra_headers]
    bearer = None if params.get("aws_access_key_id") else cfg.api_key or env.get(BEARER_ENV)
    if bearer:
        auth = [*headers, ("authorization", f"Bearer {bearer}")]
        return RequestTargets(full, streams, auth).http_target()
    credentials = find_credentials(params, env)
    if isinstance(credentials, str):
        problems.add(f"{cfg.path}.litellm_params.aws_access_key_id", credentials)
        return None
    signed = SignedTargets(full, streams, headers, Signer(credentials, region))
    return HttpTarget(urls=full, headers=headers, resolve=signed)


@dataclass(slots=True)
class EmbeddingsOutgoing(Outgoing):
    """An embeddings request, with the client's request its reply is read against."""

    client: Json = field(default_factory=dict)


class BedrockCodec:
    """``bedrock/`` chat models, by the Converse API; :meth:`for_model` hands embedding
    models to :class:`BedrockEmbeddingsCodec`."""

    name = "bedrock"
    endpoints = frozenset({Endpoint.CHAT})

    def __init__(self) -> None:
        self._embeddings = BedrockEmbeddingsCodec()

    def for_model(self, model: str) -> Codec:
        return self._embeddings if is_embedding_model(model_id(model)) else self

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None:
        paths = {Endpoint.CHAT: "/converse"}
        return bedrock_target(cfg, env, problems, paths, {Endpoint.CHAT: "/converse-stream"})

    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: Json, *, stream: bool, usage_chunk: bool
    ) -> Outgoing:
        body = openai_to_bedrock_request(payload, model_id(dep.upstream_model))
        return Outgoing(
            endpoint,
            body,
            _encode(body),
            model=payload["model"],
            stream=stream,
            relay="eventstream" if stream else "none",
            usage_chunk=usage_chunk,
        )

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            return bedrock_to_openai_response(body, model_id(dep.upstream_model))
        except _DECODE_ERRORS:
            raise invalid_reply(dep.id) from None

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        model = model_id(dep.upstream_model)
        translator = BedrockToOpenAIStream(model, include_usage=out.usage_chunk)
        return ParkedEventsAsOpenAI(dep.id, translator, _CUT)

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return map_bedrock_error(status, headers, body)


class BedrockEmbeddingsCodec:
    """``bedrock/`` embedding models (Titan, Cohere), by ``InvokeModel``."""

    name = "bedrock"
    endpoints = frozenset({Endpoint.EMBEDDINGS})

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> HttpTarget | None:
        return bedrock_target(cfg, env, problems, {Endpoint.EMBEDDINGS: "/invoke"}, {})

    def encode(
        self, dep: Deployment, endpoint: Endpoint, payload: Json, *, stream: bool, usage_chunk: bool
    ) -> Outgoing:
        body: dict[str, Any] = openai_to_bedrock_embeddings_request(
            payload, model_id(dep.upstream_model)
        )
        return EmbeddingsOutgoing(
            endpoint, body, _encode(body), model=payload["model"], stream=False, client=payload
        )

    def decode(self, dep: Deployment, out: Outgoing, body: bytes) -> tuple[bytes, Usage | None]:
        client = out.client if isinstance(out, EmbeddingsOutgoing) else out.payload
        try:
            return bedrock_to_openai_embeddings(body, client, model_id(dep.upstream_model))
        except _DECODE_ERRORS:
            raise invalid_reply(dep.id) from None

    def translator(self, dep: Deployment, out: Outgoing) -> StreamTranslator:
        raise AssertionError("embeddings are not streamed")

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return map_bedrock_error(status, headers, body)


# Where a ConverseStream ended early: inside a frame, or between frames.
_CUT = ("in the middle of a frame", "before its metadata")
