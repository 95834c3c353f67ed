"""Relays an upstream SSE stream to the client event by event.

Events are parsed in Rust as bytes arrive and sent on as soon as they are parsed: nothing
waits for more data. The usage chunk the gateway asked for is captured, and dropped when the
client did not ask for it. A stream that fails or ends without ``[DONE]`` after the response
has started ends with an explicit SSE error event and no ``[DONE]``: a client never mistakes a
cut stream for a complete one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pllm_accel
from pllm.api.http import Request
from pllm.errors import GatewayError
from pllm.usage import Usage


def error_frame(err: GatewayError) -> bytes:
    return b"data: " + err.body() + b"\n\n"


async def report_failure(
    req: Request,
    failure: GatewayError | None,
    frame: Callable[[GatewayError], bytes] = error_frame,
) -> None:
    """Ends a started stream that failed with one error event (and records why)."""
    if failure is not None:
        req.error = failure.code
        await req.send_chunk(frame(failure))


def upstream_failure(err: pllm_accel.UpstreamError, deployment: str) -> GatewayError:
    """One mapping from the native client's errors to gateway errors (also used before the
    response starts, where the status matters). All but an oversized reply are worth a retry
    on another deployment."""
    if isinstance(err, pllm_accel.UpstreamTimeoutError):
        phase = pllm_accel.timeout_phase(err)
        return GatewayError(
            504,
            f"Upstream {deployment} timed out ({phase.replace('_', ' ')} timeout).",
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


async def parked_events(
    resp: pllm_accel.UpstreamResponse, deployment: str
) -> AsyncIterator[list[tuple[str | None, bytes]]]:
    """The batches an ``"events"`` or ``"raw"`` relay parks, as they come, until the upstream
    body ends; a failure of the upstream is raised as the :class:`GatewayError` to report."""
    while True:
        try:
            batch = resp.poll()
        except pllm_accel.UpstreamError as e:
            raise upstream_failure(e, deployment) from None
        if batch is None:
            return
        if batch:
            yield batch
        else:
            await resp.wait()


async def relay_upstream(req: Request, resp: pllm_accel.UpstreamResponse, deployment: str) -> None:
    """Relays an OpenAI-format stream that the native client is already pumping (sent with an
    ``"openai"`` relay): parsing, framing and usage capture happen in Rust."""
    await req.start_stream()
    failure: GatewayError | None = None
    try:
        while True:
            try:
                framed = resp.poll_framed()
            except pllm_accel.UpstreamError as e:
                failure = upstream_failure(e, deployment)
                break
            if framed is None:
                break
            if framed:
                await req.send_chunk(framed)
            else:
                await resp.wait()
        fault = resp.fault
        if failure is None and fault == "in_band_error":
            req.error = "upstream_error"  # the upstream's own error event went to the client
        elif failure is None and fault == "malformed":
            failure = GatewayError(
                502,
                f"Upstream {deployment} sent an event that is not JSON.",
                code="upstream_invalid",
            )
        elif failure is None and not resp.saw_done:
            what = "in the middle of an event" if resp.truncated else "without [DONE]"
            failure = GatewayError(
                502, f"Upstream {deployment} ended the stream {what}.", code="upstream_truncated"
            )
        await report_failure(req, failure)
    finally:
        # Here, not after the loop: a client that leaves right after [DONE] cancels the relay
        # at its next await, and the usage the upstream reported must be recorded all the same.
        usage = resp.usage
        if usage is not None:
            req.usage = Usage(*usage)
        resp.close()
    await req.end_stream()


async def relay_frames(req: Request, frames: AsyncIterator[bytes]) -> None:
    """Relays pre-framed SSE from an in-process source (the mock provider)."""
    await req.start_stream()
    try:
        async for frame in frames:
            await req.send_chunk(frame)
    finally:
        close = getattr(frames, "aclose", None)
        if close is not None:
            await close()
    await req.end_stream()
