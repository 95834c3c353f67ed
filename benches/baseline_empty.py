"""The ceiling: Granian's ASGI server reading the request and answering a fixed reply.

No upstream, no JSON work: the same 357-byte chat completion (and, for the streaming model,
the same 50-chunk SSE body in one piece) the mock upstream serves. Whatever a gateway on
Granian does per request comes on top of this, so its throughput is the gateway's ceiling
on the same core (issue 9's target: pllm at c=64 at least 0.45 times this).

    granian --interface asgi --loop uvloop --working-dir benches baseline_empty:app
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import mock_upstream

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_REPLY = mock_upstream.chat_completion_body()
_STREAM = mock_upstream.stream_body()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    stream = b'"stream":true' in body or b'"stream": true' in body
    reply, kind = (_STREAM, b"text/event-stream") if stream else (_REPLY, b"application/json")
    headers = [(b"content-type", kind), (b"content-length", str(len(reply)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": reply})
