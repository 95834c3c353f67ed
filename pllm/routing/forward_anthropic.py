"""OpenAI chat completions served by an Anthropic-format deployment: the request translated
to the Messages API, the reply (or stream, event by event) translated back.

Kept apart from :mod:`pllm.routing.forward` so the OpenAI passthrough path stays untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec

import pllm_accel
from pllm.api.http import Request
from pllm.errors import GatewayError
from pllm.providers.base import Deployment, Endpoint, HttpTarget
from pllm.routing.forward import send_upstream
from pllm.streaming.relay import parked_events, report_failure
from pllm.translate import (
    AnthropicToOpenAIStream,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
)

_encode = msgspec.json.Encoder().encode


def invalid_reply(deployment: str) -> GatewayError:
    return GatewayError(
        502, f"Upstream {deployment} sent a reply that is not valid.", code="upstream_invalid"
    )


def _include_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def forward_chat_to_anthropic(
    http: pllm_accel.HttpClient,
    req: Request,
    dep: Deployment,
    target: HttpTarget,
    payload: dict[str, Any],
    *,
    stream: bool,
    max_response_bytes: int,
) -> None:
    body = _encode(openai_to_anthropic_request(payload, dep.upstream_model))
    resp = await send_upstream(
        http,
        req,
        dep,
        target,
        Endpoint.CHAT,
        body,
        stream=stream,
        relay="events" if stream else "none",
        max_response_bytes=max_response_bytes,
    )
    if not stream:
        try:
            reply, usage = anthropic_to_openai_response(resp.body or b"")
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise invalid_reply(dep.id) from None
        req.usage = usage
        await req.respond(200, reply)
        return
    await relay_anthropic_as_openai(req, resp, dep.id, include_usage=_include_usage(payload))


async def relay_anthropic_as_openai(
    req: Request, resp: pllm_accel.UpstreamResponse, deployment: str, *, include_usage: bool
) -> None:
    """Relays an Anthropic stream (sent with an ``"events"`` relay) as OpenAI chunks. A
    stream that fails or ends before ``message_stop`` ends with an error frame, no [DONE]."""
    translator = AnthropicToOpenAIStream(include_usage=include_usage)
    failure: GatewayError | None = None
    await req.start_stream()
    try:
        try:
            async for batch in parked_events(resp, deployment):
                out = b"".join([translator.feed(name, data) for name, data in batch])
                if out:
                    await req.send_chunk(out)
                if translator.failure is not None:
                    break
        except GatewayError as e:
            failure = e
        except (msgspec.DecodeError, msgspec.ValidationError):
            failure = invalid_reply(deployment)
        if translator.failure is not None:
            req.error = translator.failure.code
        elif failure is None and not translator.done:
            what = "in the middle of an event" if resp.truncated else "before message_stop"
            failure = GatewayError(
                502, f"Upstream {deployment} ended the stream {what}.", code="upstream_truncated"
            )
        await report_failure(req, failure)
    finally:
        req.usage = translator.usage  # recorded even when the client left mid-stream
        resp.close()
    await req.end_stream()
