"""Anthropic Messages requests (/v1/messages) served by any deployment.

An ``anthropic`` deployment gets the client's request with only ``model`` rewritten and its
reply passes through as bytes (usage read on the side). An OpenAI-format deployment, or the
mock, gets a translated chat completion request, and its reply or stream is translated back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

import pllm_accel
from pllm.api.http import Request
from pllm.errors import GatewayError
from pllm.providers.base import Deployment, Endpoint, HttpTarget
from pllm.providers.mock import MockBackend
from pllm.routing.forward import send_upstream
from pllm.routing.forward_anthropic import invalid_reply
from pllm.streaming.relay import parked_events, report_failure
from pllm.translate import (
    OpenAIToAnthropicStream,
    anthropic_to_openai_request,
    openai_to_anthropic_response,
)
from pllm.translate.errors import anthropic_error_body
from pllm.translate.usage import AnthropicUsage
from pllm.usage import Usage

_encode = msgspec.json.Encoder().encode


class _Message(msgspec.Struct):
    usage: AnthropicUsage | None = None


class _UsageProbe(msgspec.Struct):
    message: _Message | None = None
    usage: AnthropicUsage | None = None


_probe = msgspec.json.Decoder(_UsageProbe).decode
_reply_usage = msgspec.json.Decoder(_Message).decode


def error_event(err: GatewayError) -> bytes:
    return b"event: error\ndata: " + anthropic_error_body(err) + b"\n\n"


async def forward_messages(
    http: pllm_accel.HttpClient,
    req: Request,
    dep: Deployment,
    payload: dict[str, Any],
    *,
    stream: bool,
    max_response_bytes: int,
) -> None:
    target = dep.target
    model: str = payload["model"]
    if isinstance(target, HttpTarget) and target.wire == "anthropic":
        # A copy: the caller's payload stays the client's for another attempt.
        resp = await send_upstream(
            http,
            req,
            dep,
            target,
            Endpoint.MESSAGES,
            _encode({**payload, "model": dep.upstream_model}),
            stream=stream,
            relay="raw" if stream else "none",
            max_response_bytes=max_response_bytes,
        )
        if stream:
            await _relay_raw(req, resp, dep.id)
            return
        body = resp.body or b""
        try:
            usage = _reply_usage(body).usage
        except (msgspec.DecodeError, msgspec.ValidationError):
            usage = None
        req.usage = usage.gateway_usage() if usage is not None else None
        await req.respond(200, body)
        return
    chat = anthropic_to_openai_request(payload, dep.upstream_model)
    if isinstance(target, MockBackend):
        await _mock(req, target, chat, model, stream=stream)
        return
    if stream and target.stream_usage:
        chat["stream_options"] = {"include_usage": True}
    resp = await send_upstream(
        http,
        req,
        dep,
        target,
        Endpoint.CHAT,
        _encode(chat),
        stream=stream,
        relay="events" if stream else "none",
        max_response_bytes=max_response_bytes,
    )
    if stream:
        await _relay_openai(req, resp, dep.id, model)
        return
    try:
        reply, usage_ = openai_to_anthropic_response(resp.body or b"", model)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise invalid_reply(dep.id) from None
    req.usage = usage_
    await req.respond(200, reply)


async def _relay_raw(req: Request, resp: pllm_accel.UpstreamResponse, deployment: str) -> None:
    """Anthropic's own stream, bytes as they come; the usage events are read on the side."""
    parser = pllm_accel.SseParser()
    usage = AnthropicUsage()
    done = upstream_error = False
    failure: GatewayError | None = None
    await req.start_stream()
    try:
        try:
            async for batch in parked_events(resp, deployment):
                raw = b"".join([chunk for _, chunk in batch])
                await req.send_chunk(raw)
                for name, data in parser.feed(raw):
                    if name == "message_start" or name == "message_delta":
                        try:
                            probe = _probe(data)
                        except (msgspec.DecodeError, msgspec.ValidationError):
                            continue
                        found = probe.message.usage if probe.message is not None else probe.usage
                        if found is not None:
                            usage.merge(found)
                    elif name == "message_stop":
                        done = True
                    elif name == "error":
                        upstream_error = True
        except GatewayError as e:
            failure = e
        if upstream_error:
            req.error = "upstream_error"
        elif failure is None and not done:
            failure = GatewayError(
                502, f"Upstream {deployment} ended the stream early.", code="upstream_truncated"
            )
        await report_failure(req, failure, error_event)
    finally:
        req.usage = usage.gateway_usage()  # recorded even when the client left mid-stream
        resp.close()
    await req.end_stream()


async def _relay_openai(
    req: Request, resp: pllm_accel.UpstreamResponse, deployment: str, model: str
) -> None:
    """An OpenAI-format stream (sent with an ``"events"`` relay) as Anthropic events."""
    translator = OpenAIToAnthropicStream(model)
    failure: GatewayError | None = None
    await req.start_stream()
    try:
        try:
            async for batch in parked_events(resp, deployment):
                out = b"".join([translator.feed(data) for _, data in batch])
                if out:
                    await req.send_chunk(out)
                if translator.done or translator.failure is not None:
                    break
        except GatewayError as e:
            failure = e
        except (msgspec.DecodeError, msgspec.ValidationError):
            failure = invalid_reply(deployment)
        await _end(req, translator, failure, deployment)
    finally:
        req.usage = translator.usage  # recorded even when the client left mid-stream
        resp.close()
    await req.end_stream()


async def _end(
    req: Request,
    translator: OpenAIToAnthropicStream,
    failure: GatewayError | None,
    deployment: str,
) -> None:
    if translator.failure is not None:
        req.error = translator.failure.code
        return
    if failure is None and not translator.done:
        failure = GatewayError(
            502,
            f"Upstream {deployment} ended the stream without [DONE].",
            code="upstream_truncated",
        )
    await report_failure(req, failure, error_event)


async def _mock(
    req: Request, backend: MockBackend, chat: dict[str, Any], model: str, *, stream: bool
) -> None:
    rid = req.request_id
    if not stream:
        reply, usage = openai_to_anthropic_response(await backend.chat(chat, rid), model)
        req.usage = usage
        await req.respond(200, reply)
        return
    req.usage = Usage.of_counts(backend.usage(chat, chat=True))
    translator = OpenAIToAnthropicStream(model)
    parser = pllm_accel.SseParser()
    frames: AsyncIterator[bytes] = backend.stream(chat, rid, chat=True, include_usage=True)
    await req.start_stream()
    try:
        async for frame in frames:
            out = b"".join([translator.feed(data) for _, data in parser.feed(frame)])
            if out:
                await req.send_chunk(out)
    finally:
        close = getattr(frames, "aclose", None)
        if close is not None:
            await close()
    await req.end_stream()
