"""One attempt on one deployment: build the upstream request, send it, read the answer's head.

The same function serves every codec and both surfaces: the surface builds the request through
the deployment's codec; the target is the native HTTP client's or an in-process one (the
mock); a non-2xx answer becomes the codec's error; a 2xx reply is decoded into the client's
format, or a stream is handed back, still being pumped, for the relay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pllm_accel
from pllm.call import Call
from pllm.errors import GatewayError
from pllm.http import Request
from pllm.providers.codec import (
    Answer,
    Deployment,
    Endpoint,
    HttpTarget,
    Outgoing,
    StreamTranslator,
)
from pllm.providers.surface import Surface
from pllm.usage import Usage

if TYPE_CHECKING:
    from pllm.observability.tracing import Tracing


@dataclass(slots=True)
class Reply:
    """A whole reply in the client's format, with its usage."""

    body: bytes
    usage: Usage | None


@dataclass(slots=True)
class Streaming:
    """A 2xx stream whose body is being pumped, and the translator that relays it."""

    source: Answer
    translator: StreamTranslator
    deployment: str


def upstream_failure(err: pllm_accel.UpstreamError, deployment: str) -> GatewayError:
    """One mapping from the native client's errors to gateway errors (before the response
    starts, where the status matters, and inside a stream). All but an oversized reply are
    worth a retry on another deployment."""
    if isinstance(err, pllm_accel.UpstreamTimeoutError):
        return GatewayError(
            504,
            f"Upstream {deployment} timed out ({err.phase.replace('_', ' ')} timeout).",
            code="upstream_timeout",
            retryable=True,
        )
    if isinstance(err, pllm_accel.UpstreamBodyTooLarge):
        return GatewayError(
            502,
            f"Upstream {deployment} sent a reply over the size limit.",
            code="upstream_too_large",
        )
    if isinstance(err, pllm_accel.UpstreamProtocolError):
        return GatewayError(
            502, f"Upstream {deployment}: {err}", code="upstream_connection_error", retryable=True
        )
    return GatewayError(
        502, f"Upstream {deployment}: {err}", code="upstream_unreachable", retryable=True
    )


def first_byte_timeout(call: Call, dep: Deployment, stream: bool) -> float:
    """The deployment's first-byte timeout, shortened to what is left of the request's
    overall deadline when one is set."""
    timeouts = dep.timeouts
    limit = timeouts.stream_first_byte if stream else timeouts.first_byte
    if call.deadline is None:
        return limit
    left = call.deadline - time.perf_counter()
    if left <= 0:
        raise GatewayError(
            504,
            "The request's overall deadline passed before an upstream answered.",
            code="upstream_timeout",
        )
    return min(limit, left)


async def forward(
    http: pllm_accel.HttpClient,
    req: Request,
    call: Call,
    surface: Surface,
    dep: Deployment,
    endpoint: Endpoint,
    payload: dict[str, Any],
    max_response_bytes: int,
    trace_headers: list[tuple[str, str]] | None = None,
) -> Reply | Streaming:
    """Raises the :class:`GatewayError` the client should see (retryable or not).
    ``trace_headers``: the attempt's ``traceparent`` for the upstream (tracing on)."""
    out = surface.encode(dep, endpoint, payload, stream=call.stream)
    target = dep.target
    if isinstance(target, HttpTarget):
        answer: Answer = await _send(
            http, req, call, dep, target, out, max_response_bytes, trace_headers
        )
    else:
        answer = await target.answer(out, req.request_id)
    call.upstream_head_at = time.perf_counter()
    if not 200 <= answer.status < 300:
        raise dep.codec.error(answer.status, answer.headers, answer.body or b"")
    if out.stream:
        return Streaming(answer, surface.translator(dep, out), dep.id)
    body, usage = surface.decode(dep, out, answer.body or b"")
    return Reply(body, usage)


async def _send(
    http: pllm_accel.HttpClient,
    req: Request,
    call: Call,
    dep: Deployment,
    target: HttpTarget,
    out: Outgoing,
    max_response_bytes: int,
    trace_headers: list[tuple[str, str]] | None,
) -> pllm_accel.UpstreamResponse:
    timeouts = dep.timeouts
    native = target.native[out.endpoint] if target.resolve is None else await target.resolve(out)
    traceparent = None
    if trace_headers is not None:
        # traceparent rides with the request (every target, resolved ones included); a
        # tracestate, rare, needs a target of its own, which resolved targets go without.
        traceparent = next((v for k, v in trace_headers if k == "traceparent"), None)
        rest = [(k, v) for k, v in trace_headers if k != "traceparent"]
        if rest and target.resolve is None:
            native = pllm_accel.Target("POST", target.urls[out.endpoint], [*target.headers, *rest])
    pending = http.send(
        native,
        out.body,
        request_id=req.request_id,
        connect_timeout=timeouts.connect,
        first_byte_timeout=first_byte_timeout(call, dep, out.stream),
        chunk_timeout=timeouts.chunk,
        max_body_bytes=max_response_bytes,
        relay=out.relay,
        tap=out.tap,
        traceparent=traceparent,
    )
    try:
        return await pending
    except pllm_accel.UpstreamError as e:
        raise upstream_failure(e, dep.id) from None


async def forward_traced(
    tracing: Tracing,
    http: pllm_accel.HttpClient,
    req: Request,
    call: Call,
    surface: Surface,
    dep: Deployment,
    endpoint: Endpoint,
    payload: dict[str, Any],
    max_response_bytes: int,
) -> Reply | Streaming:
    """:func:`forward` in its own CLIENT span, whose ``traceparent`` the upstream receives."""
    with tracing.attempt(call, dep, endpoint, payload) as span:
        result = await forward(
            http, req, call, surface, dep, endpoint, payload, max_response_bytes, span.headers()
        )
        if isinstance(result, Reply):
            span.replied(result.body, result.usage)
        else:
            span.streaming(result.source.status)
        return result
