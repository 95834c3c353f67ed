"""The one stream relay: every codec, both surfaces, the native client and in-process sources.

The source parks what arrived (frames ready to send and/or parsed events); the translator turns
each batch into the client's frames as soon as it is polled: nothing waits for more data. A
stream that fails, or ends without its proper end, after the response has started ends with one
explicit error event in the surface's shape: a client never mistakes a cut stream for a
complete one. The usage is read in ``finally``, so a client that leaves mid-stream is billed for
what was generated.
"""

from __future__ import annotations

import msgspec

import pllm_accel
from pllm.call import Call
from pllm.errors import GatewayError
from pllm.http import Request
from pllm.pipeline.forward import Streaming, upstream_failure
from pllm.providers.codec import invalid_reply
from pllm.providers.surface import Surface


async def relay(req: Request, call: Call, streaming: Streaming, surface: Surface) -> None:
    source, translator = streaming.source, streaming.translator
    failure: GatewayError | None = None
    await req.start_stream()
    try:
        try:
            while True:
                batch = source.poll()
                if batch is None:
                    break
                # Fed even when empty (cheaper than asking first: most polls bring data).
                out = translator.feed(batch)
                if out:
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
        if failure is None:
            ending = translator.finish(source)
            failure = ending.failure
            if ending.relayed_error is not None:
                req.error = ending.relayed_error
        if failure is not None:
            req.error = failure.code
            await req.send_chunk(surface.error_frame(failure))
    finally:
        call.usage = translator.usage(source)
        source.close()
    await req.end_stream()
