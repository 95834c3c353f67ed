"""The one stream relay: every codec, both surfaces, the native client and in-process sources.

The source parks what arrived (frames ready to send and/or parsed events); the translator turns
each batch into the client's frames as soon as it is polled: nothing waits for more data. A
stream that fails, or ends without its proper end, after the response has started ends with one
explicit error event in the surface's shape: a client never mistakes a cut stream for a
complete one. The usage is read in ``finally``, so a client that leaves mid-stream is billed for
what was generated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

import pllm_accel
from pllm.call import Call
from pllm.errors import GatewayError
from pllm.http import Request
from pllm.pipeline.forward import Streaming, upstream_failure
from pllm.providers.codec import invalid_reply
from pllm.providers.surface import Surface


class OpenStreams:
    """The streams being relayed, so that a shutdown past its drain timeout can end each
    with an error event (instead of cutting the connection mid-event)."""

    def __init__(self) -> None:
        self._relays: set[asyncio.Task[object]] = set()
        self._cut: set[asyncio.Task[object]] = set()

    def __len__(self) -> int:
        return len(self._relays)

    def cut_all(self) -> int:
        """Ends every open stream with a ``server_shutting_down`` error event."""
        for task in self._relays:
            if task not in self._cut:
                self._cut.add(task)
                task.cancel()
        return len(self._relays)

    def enter(self) -> asyncio.Task[object] | None:
        task = asyncio.current_task()
        if task is not None:
            self._relays.add(task)
        return task

    def leave(self, task: asyncio.Task[object] | None) -> None:
        if task is not None:
            self._relays.discard(task)
            self._cut.discard(task)

    def was_cut(self, task: asyncio.Task[object] | None) -> bool:
        return task in self._cut


open_streams = OpenStreams()


def _shutting_down() -> GatewayError:
    return GatewayError(
        503,
        "The gateway is shutting down: the stream was ended before the upstream finished it.",
        code="server_shutting_down",
        type="service_unavailable",
    )


async def relay(
    req: Request,
    call: Call,
    streaming: Streaming,
    surface: Surface,
    tap: Callable[[bytes], None] | None = None,
) -> None:
    """``tap``: sees every frame sent to the client (the response cache's collector)."""
    source, translator = streaming.source, streaming.translator
    failure: GatewayError | None = None
    await req.start_stream()
    task = open_streams.enter()
    try:
        try:
            while True:
                batch = source.poll()
                if batch is None:
                    break
                # Fed even when empty (cheaper than asking first: most polls bring data).
                out = translator.feed(batch)
                if out:
                    if tap is not None:
                        tap(out)
                    await req.send_chunk(out)
                elif not batch:
                    await source.wait()
                    continue
                if translator.stopped:
                    break
        except pllm_accel.UpstreamError as e:
            failure = upstream_failure(e, streaming.deployment)
        except (msgspec.DecodeError, msgspec.ValidationError):
            failure = invalid_reply(streaming.deployment)
        except asyncio.CancelledError:
            if task is None or not open_streams.was_cut(task):
                raise
            task.uncancel()  # our own cancellation, answered here
            failure = _shutting_down()
        if failure is None:
            ending = translator.finish(source)
            failure = ending.failure
            if ending.relayed_error is not None:
                req.error = ending.relayed_error
        if failure is not None:
            req.error = failure.code
            await req.send_chunk(surface.error_frame(failure))
    finally:
        open_streams.leave(task)
        call.usage = translator.usage(source)
        source.close()
    await req.end_stream()
