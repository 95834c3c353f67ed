"""The OpenAI-compatible endpoints: chat completions, completions, embeddings, models."""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from typing import Any

import msgspec

from pllm.api.http import Request, read_json_object
from pllm.api.validation import check_chat, check_completion, check_embeddings
from pllm.errors import GatewayError
from pllm.providers.base import Deployment, Endpoint, HttpTarget
from pllm.routing.forward import forward_http, forward_mock
from pllm.routing.forward_anthropic import forward_chat_to_anthropic
from pllm.routing.serve import serve
from pllm.state import AppState

_encode = msgspec.json.Encoder().encode


# `_serve` and `_forward` return their callee's coroutine instead of awaiting it: every
# resumption of a request passes through each frame of its await chain, so a frame saved here
# is saved at every wake-up of every request.


def _serve(
    state: AppState,
    req: Request,
    endpoint: Endpoint,
    model: str,
    payload: dict[str, Any],
    stream: bool,
) -> Awaitable[None]:
    attempt = functools.partial(_forward, state, req, endpoint=endpoint, stream=stream)
    return serve(state, req, model, endpoint, payload, attempt, stream=stream)


def _forward(
    state: AppState,
    req: Request,
    dep: Deployment,
    payload: dict[str, Any],
    *,
    endpoint: Endpoint,
    stream: bool,
) -> Awaitable[None]:
    target = dep.target
    if isinstance(target, HttpTarget) and target.wire == "anthropic":
        return forward_chat_to_anthropic(
            state.http_client(),
            req,
            dep,
            target,
            payload,
            stream=stream,
            max_response_bytes=state.settings.general.max_response_body_bytes,
        )
    if isinstance(target, HttpTarget):
        return forward_http(
            state.http_client(),
            req,
            dep,
            target,
            endpoint,
            payload,
            stream=stream,
            max_response_bytes=state.settings.general.max_response_body_bytes,
        )
    return forward_mock(req, target, endpoint, payload, stream=stream)


async def chat_completions(state: AppState, req: Request) -> None:
    payload = await read_json_object(req, state.settings.general.max_request_body_bytes)
    model, stream = check_chat(payload)
    await _serve(state, req, Endpoint.CHAT, model, payload, stream)


async def completions(state: AppState, req: Request) -> None:
    payload = await read_json_object(req, state.settings.general.max_request_body_bytes)
    model, stream = check_completion(payload)
    await _serve(state, req, Endpoint.COMPLETIONS, model, payload, stream)


async def embeddings(state: AppState, req: Request) -> None:
    payload = await read_json_object(req, state.settings.general.max_request_body_bytes)
    model = check_embeddings(payload)
    await _serve(state, req, Endpoint.EMBEDDINGS, model, payload, False)


def _model_card(state: AppState, name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": state.created, "owned_by": "pllm"}


async def list_models(state: AppState, req: Request) -> None:
    principal = req.principal
    data = [_model_card(state, name) for name in state.registry.groups if principal.may_use(name)]
    await req.respond(200, _encode({"object": "list", "data": data}))


async def get_model(state: AppState, req: Request) -> None:
    name = req.path.split("/models/", 1)[1]
    if name not in state.registry.groups or not req.principal.may_use(name):
        raise GatewayError(
            404,
            f"The model '{name}' does not exist",
            param="model",
            code="model_not_found",
        )
    await req.respond(200, _encode(_model_card(state, name)))
