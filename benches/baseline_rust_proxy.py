"""The bare Rust-client proxy: Granian plus pllm's native HTTP client and nothing else.

Check the key, decode the body, swap `model`, send it with `pllm_accel.HttpClient` (the
client pllm uses), answer the upstream's bytes; a stream is re-framed by the same native
OpenAI relay pllm uses and sent on batch by batch. No routing, limits, accounting or logs:
pllm's rows minus this one are the cost of its features on the same client. Needs the
gateway's venv (pllm_accel):

    BASELINE_UPSTREAM=http://127.0.0.1:8080 .venv/bin/granian --interface asgi --loop uvloop \
        --working-dir benches baseline_rust_proxy:app
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import msgspec
from asgi_bits import Receive, Scope, Send, answer, read_body

import pllm_accel

_UPSTREAM = os.environ["BASELINE_UPSTREAM"].rstrip("/")
_AUTH = f"Bearer {os.environ.get('BASELINE_MASTER_KEY', 'sk-bench-master')}".encode()
_HEADERS = [("authorization", "Bearer sk-upstream"), ("content-type", "application/json")]
_TARGETS = {
    "bench": pllm_accel.Target("POST", f"{_UPSTREAM}/v1/chat/completions", _HEADERS),
    "bench-stream": pllm_accel.Target("POST", f"{_UPSTREAM}/stream/v1/chat/completions", _HEADERS),
}
_decode = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


class _State:
    client: pllm_accel.HttpClient


async def _lifespan(receive: Receive, send: Send) -> None:
    loop = asyncio.get_running_loop()
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _State.client = pllm_accel.open_client(loop)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            pllm_accel.close_client(loop, _State.client)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send: Send, status: int, body: bytes) -> None:
    await answer(send, status, body, b"application/json")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if (b"authorization", _AUTH) not in scope["headers"]:
        await _answer(send, 401, b'{"error":{"message":"invalid api key"}}')
        return
    body = await read_body(receive)
    request = _decode(body)
    target = _TARGETS.get(request.get("model"))
    if target is None:
        await _answer(send, 404, b'{"error":{"message":"unknown model"}}')
        return
    request["model"] = "bench"
    stream = bool(request.get("stream"))
    try:
        resp = await _State.client.send(
            target,
            _encode(request),
            request_id="",
            connect_timeout=5.0,
            first_byte_timeout=30.0,
            chunk_timeout=30.0,
            max_body_bytes=1 << 24,
            relay="openai" if stream else "none",
        )
    except pllm_accel.UpstreamError as e:
        await _answer(send, 502, _encode({"error": {"message": str(e)}}))
        return
    if not stream or resp.body is not None:
        await _answer(send, resp.status, resp.body or b"")
        return
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    while (batch := resp.poll()) is not None:
        if batch:
            await send({"type": "http.response.body", "body": batch.out, "more_body": True})
        else:
            await resp.wait()
    await send({"type": "http.response.body", "body": b""})
