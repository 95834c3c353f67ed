"""The Anthropic-compatible endpoints: /v1/messages and /v1/messages/count_tokens.

This surface speaks Anthropic's API: the key comes as ``x-api-key`` (or a bearer token) and
every error, the key check's included, is ``{"type": "error", "error": {"type", "message"}}``.
Any deployment that serves chat can answer /v1/messages (see
:mod:`pllm.routing.forward_messages`); count_tokens needs an ``anthropic`` deployment.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.api.http import Request, read_json_object
from pllm.api.validation import require_model
from pllm.errors import GatewayError, bad_request
from pllm.providers.base import Deployment, Endpoint, HttpTarget
from pllm.routing.forward import send_upstream
from pllm.routing.forward_messages import forward_messages
from pllm.routing.serve import serve
from pllm.state import AppState
from pllm.translate.errors import as_anthropic_error

_encode = msgspec.json.Encoder().encode


def check_messages(payload: dict[str, Any]) -> tuple[str, bool]:
    model = require_model(payload)
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: a non-empty array of messages is required.", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise bad_request(
                f"messages.{i}.role: Input should be 'user' or 'assistant'.", param="messages"
            )
    max_tokens = payload.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise bad_request("max_tokens: a positive integer is required.", param="max_tokens")
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("stream: Input should be a valid boolean.", param="stream")
    return model, bool(stream)


async def _read(state: AppState, req: Request) -> dict[str, Any]:
    req.principal = await state.auth.authenticate(req.headers)
    return await read_json_object(req, state.settings.general.max_request_body_bytes)


async def messages(state: AppState, req: Request) -> None:
    try:
        payload = await _read(state, req)
        model, stream = check_messages(payload)
        max_bytes = state.settings.general.max_response_body_bytes

        async def attempt(dep: Deployment, body: dict[str, Any]) -> None:
            await forward_messages(
                state.http_client(), req, dep, body, stream=stream, max_response_bytes=max_bytes
            )

        await serve(state, req, model, Endpoint.CHAT, payload, attempt, stream=stream)
    except GatewayError as e:
        raise as_anthropic_error(e) from None


async def count_tokens(state: AppState, req: Request) -> None:
    try:
        payload = await _read(state, req)
        model = require_model(payload)

        async def attempt(dep: Deployment, body: dict[str, Any]) -> None:
            target = dep.target
            assert isinstance(target, HttpTarget)
            body = {**body, "model": dep.upstream_model}
            resp = await send_upstream(
                state.http_client(),
                req,
                dep,
                target,
                Endpoint.COUNT_TOKENS,
                _encode(body),
                stream=False,
                relay="none",
                max_response_bytes=state.settings.general.max_response_body_bytes,
            )
            await req.respond(200, resp.body or b"")

        await serve(state, req, model, Endpoint.COUNT_TOKENS, payload, attempt, stream=False)
    except GatewayError as e:
        raise as_anthropic_error(e) from None
