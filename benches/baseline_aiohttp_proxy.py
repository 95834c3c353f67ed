"""Baseline proxy: the least a Python gateway on Granian + aiohttp has to do per request.

Check the key, read the body, decode it, swap `model` for the upstream's name, forward it
over one shared aiohttp keep-alive pool, hand back the upstream bytes; for `stream: true`
relay each upstream read as it arrives. No retries, no logging, no usage accounting: any
cost pllm shows above this is the cost of its features (or of its design).

Serve with one worker, e.g.
    BASELINE_UPSTREAM=http://127.0.0.1:8080 granian --interface asgi --loop uvloop \
        --working-dir benches baseline_aiohttp_proxy:app
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import msgspec
from asgi_bits import Receive, Scope, Send, answer, read_body

_UPSTREAM = os.environ["BASELINE_UPSTREAM"].rstrip("/")
_EXPECTED_AUTH = f"Bearer {os.environ.get('BASELINE_MASTER_KEY', 'sk-bench-master')}".encode()
# Client-facing model name -> upstream URL, the same two models the pllm config defines.
_ROUTES = {
    "bench": f"{_UPSTREAM}/v1/chat/completions",
    "bench-stream": f"{_UPSTREAM}/stream/v1/chat/completions",
}
_UPSTREAM_MODEL = "bench"
_UPSTREAM_HEADERS = {"Authorization": "Bearer sk-upstream", "Content-Type": "application/json"}

_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


class _State:
    # Created on lifespan startup: an aiohttp session must be born on the worker's loop.
    session: aiohttp.ClientSession


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # limit=0: no pool cap, so c=256 is not queued behind aiohttp's default of 100.
            _State.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=600),
            )
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _State.session.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _error(send: Send, status: int, message: str) -> None:
    body = _encoder.encode({"error": {"message": message, "type": "invalid_request_error"}})
    await answer(send, status, body, b"application/json")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
        await _error(send, 404, "not found")
        return
    if (b"authorization", _EXPECTED_AUTH) not in scope["headers"]:
        await _error(send, 401, "invalid api key")
        return
    try:
        request = _decoder.decode(await read_body(receive))
    except msgspec.DecodeError as exc:
        await _error(send, 400, str(exc))
        return
    url = _ROUTES.get(request.get("model"))
    if url is None:
        await _error(send, 404, "unknown model")
        return
    request["model"] = _UPSTREAM_MODEL
    started = False
    try:
        async with _State.session.post(
            url, data=_encoder.encode(request), headers=_UPSTREAM_HEADERS
        ) as upstream:
            content_type = upstream.headers.get("Content-Type", "application/json").encode()
            if not request.get("stream"):
                await answer(send, upstream.status, await upstream.read(), content_type)
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status,
                    "headers": [(b"content-type", content_type)],
                }
            )
            started = True
            async for chunk in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
    except aiohttp.ClientError as exc:
        if started:
            # Mid-stream there is no way to report it in-band; let Granian drop the
            # connection so the client sees a truncated stream, not a false success.
            raise
        await _error(send, 502, f"upstream: {exc}")
