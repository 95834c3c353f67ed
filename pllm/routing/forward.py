"""One attempt at serving a request on one deployment: upstream HTTP or the in-process mock."""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec

import pllm_accel
from pllm.api.http import Request
from pllm.errors import GatewayError
from pllm.providers.base import Deployment, Endpoint, HttpTarget
from pllm.providers.mock import MockBackend
from pllm.streaming.relay import relay_frames, relay_upstream, upstream_failure
from pllm.usage import Usage, usage_of_reply

_encode = msgspec.json.Encoder().encode

Relay = Literal["none", "raw", "events", "openai", "openai-strip-usage"]


def _ask_for_usage(payload: dict[str, Any]) -> bool:
    """Makes a stream report usage; returns True when the client had not asked for it (then
    the gateway strips the extra chunk again). ``payload`` is this attempt's own copy."""
    options = payload.get("stream_options")
    if isinstance(options, dict):
        if options.get("include_usage") is True:
            return False
        payload["stream_options"] = {**options, "include_usage": True}
    else:
        payload["stream_options"] = {"include_usage": True}
    return True


def first_byte_timeout(req: Request, dep: Deployment, stream: bool) -> float:
    """The deployment's first-byte timeout, shortened to what is left of the request's
    overall deadline when one is set."""
    timeouts = dep.timeouts
    limit = timeouts.stream_first_byte if stream else timeouts.first_byte
    if req.deadline is None:
        return limit
    left = req.deadline - time.perf_counter()
    if left <= 0:
        raise GatewayError(
            504,
            "The request's overall deadline passed before an upstream answered.",
            code="upstream_timeout",
        )
    return min(limit, left)


async def send_upstream(
    http: pllm_accel.HttpClient,
    req: Request,
    dep: Deployment,
    target: HttpTarget,
    endpoint: Endpoint,
    body: bytes,
    *,
    stream: bool,
    relay: Relay,
    max_response_bytes: int,
) -> pllm_accel.UpstreamResponse:
    """Sends one request to a deployment; returns its 2xx response (whose body is read whole,
    or being pumped per ``relay``) or raises the :class:`GatewayError` the client should see."""
    timeouts = dep.timeouts
    pending = http.send(
        target.native[endpoint],
        body,
        request_id=req.request_id,
        connect_timeout=timeouts.connect,
        first_byte_timeout=first_byte_timeout(req, dep, stream),
        chunk_timeout=timeouts.chunk,
        max_body_bytes=max_response_bytes,
        relay=relay,
    )
    try:
        resp = await pending
    except pllm_accel.UpstreamError as e:
        raise upstream_failure(e, dep.id) from None
    req.upstream_head_at = time.perf_counter()
    if not 200 <= resp.status < 300:
        assert dep.provider is not None
        raise dep.provider.map_error(resp.status, resp.headers, resp.body or b"")
    return resp


async def forward_http(
    http: pllm_accel.HttpClient,
    req: Request,
    dep: Deployment,
    target: HttpTarget,
    endpoint: Endpoint,
    payload: dict[str, Any],
    *,
    stream: bool,
    max_response_bytes: int,
) -> None:
    """OpenAI-format upstream: the request is the client's with ``model`` rewritten, and the
    reply passes through as bytes (streams re-framed in Rust)."""
    payload = {**payload, "model": dep.upstream_model}
    strip_usage = stream and target.stream_usage and _ask_for_usage(payload)
    relay: Relay = ("openai-strip-usage" if strip_usage else "openai") if stream else "none"
    resp = await send_upstream(
        http,
        req,
        dep,
        target,
        endpoint,
        _encode(payload),
        stream=stream,
        relay=relay,
        max_response_bytes=max_response_bytes,
    )
    if stream:
        await relay_upstream(req, resp, dep.id)
        return
    body = resp.body or b""
    req.usage = usage_of_reply(body)
    await req.respond(200, body)


async def forward_mock(
    req: Request, backend: MockBackend, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool
) -> None:
    rid = req.request_id
    if endpoint is Endpoint.EMBEDDINGS:
        body = await backend.embeddings(payload)
        req.usage = usage_of_reply(body)
        await req.respond(200, body)
        return
    chat = endpoint is Endpoint.CHAT
    if not stream:
        body = await (backend.chat(payload, rid) if chat else backend.completion(payload, rid))
        req.usage = usage_of_reply(body)
        await req.respond(200, body)
        return
    options = payload.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    req.usage = Usage.of_counts(backend.usage(payload, chat=chat))
    await relay_frames(req, backend.stream(payload, rid, chat=chat, include_usage=include_usage))
