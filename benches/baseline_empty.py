"""The ceiling: Granian's ASGI server reading the request and answering a fixed reply.

No upstream, no JSON work: the same 357-byte chat completion (and, for the streaming model,
the same 50-chunk SSE body in one piece) the mock upstream serves. Whatever a gateway on
Granian does per request comes on top of this, so its throughput is the gateway's ceiling
on the same core (issue 9's target: pllm at c=64 at least 0.45 times this).

    granian --interface asgi --loop uvloop --working-dir benches baseline_empty:app
"""

from __future__ import annotations

import mock_upstream
from asgi_bits import Receive, Scope, Send, answer, read_body

_REPLY = mock_upstream.chat_completion_body()
_STREAM = mock_upstream.stream_body()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = await read_body(receive)
    if b'"stream":true' in body or b'"stream": true' in body:
        await answer(send, 200, _STREAM, b"text/event-stream")
    else:
        await answer(send, 200, _REPLY, b"application/json")
