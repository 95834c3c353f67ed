"""The ground floor of HTTP: ASGI types, one request/response exchange, body reading with a cap.

:class:`Request` is the HTTP side of a request only — path, headers, id, whether and how it was
answered. What the gateway decides and measures while serving a model call (principal, model,
deployment, usage, cost) is a separate record, :class:`pllm.call.Call`. Both are on the ground
floor, so every layer above can take them without importing upward.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from pllm.errors import GatewayError, bad_request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = tuple[tuple[str, str], ...]

JSON = b"application/json"
EVENT_STREAM = b"text/event-stream"
_MAX_REQUEST_ID = 128
_ID_MASK = (1 << 40) - 1


def _seed_ids() -> None:
    # A random start per process (re-drawn in each forked worker), then a counter: unique ids
    # without a getrandom() system call per request.
    global _ids
    _ids = itertools.count(int.from_bytes(os.urandom(5)))


_ids: itertools.count[int]
_seed_ids()
os.register_at_fork(after_in_child=_seed_ids)


class ClientDisconnected(Exception):
    """The client went away before its request was complete."""


def _request_id(given: bytes | None) -> str:
    # A caller's id is kept when it is short and printable, so it can join their logs to ours.
    if given and len(given) <= _MAX_REQUEST_ID and given.isascii():
        text = given.decode()
        if text.isprintable() and '"' not in text and "\\" not in text:
            return text
    # Time-ordered (microseconds, then 40 bits of the process's counter) so that spend rows,
    # keyed by request id, are appended to the end of the primary-key index instead of all
    # over it.
    return f"req_{time.time_ns() // 1000:014x}{next(_ids) & _ID_MASK:010x}"


class Request:
    """One HTTP exchange: what came in, and whether and how it was answered."""

    __slots__ = (
        "arrived_at",
        "error",
        "extra_headers",
        "headers",
        "path",
        "receive",
        "request_id",
        "scope",
        "send",
        "started",
        "started_at",
        "status",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.path: str = scope["path"]
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self.request_id = _request_id(self.headers.get(b"x-request-id"))
        self.started_at = time.perf_counter()
        self.arrived_at = time.time()
        self.started = False
        self.status = 0
        # The code of the error answered, or of the failure that ended a started stream.
        self.error: str | None = None
        # Added to the response head (which model served it, attempts made).
        self.extra_headers: list[tuple[bytes, bytes]] = []

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started_at) * 1000

    async def read_body(self, cap: int) -> bytes:
        """The whole body; 413 as soon as it is known to exceed ``cap`` bytes."""
        declared = self.headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                raise bad_request("Invalid Content-Length header.")
            if int(declared) > cap:
                raise _too_large(cap)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                raise _too_large(cap)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _head(self, content_type: bytes, extra: Headers) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", content_type), (b"x-request-id", self.request_id.encode())]
        headers.extend(self.extra_headers)
        headers.extend((k.encode(), v.encode()) for k, v in extra)
        return headers

    async def respond(
        self, status: int, body: bytes, *, content_type: bytes = JSON, extra: Headers = ()
    ) -> None:
        self.started = True
        self.status = status
        headers = self._head(content_type, extra)
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    async def respond_error(self, err: GatewayError) -> None:
        self.error = err.code or err.type
        await self.respond(err.status, err.body(), extra=err.headers)

    async def start_stream(self) -> None:
        self.started = True
        self.status = 200
        headers = self._head(EVENT_STREAM, ())
        headers.append((b"cache-control", b"no-cache"))
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})

    async def send_chunk(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end_stream(self) -> None:
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})


def _too_large(cap: int) -> GatewayError:
    return GatewayError(
        413,
        f"Request body too large: the limit is {cap} bytes.",
        code="request_too_large",
    )


_decode_json = msgspec.json.Decoder().decode


async def read_json_object(req: Request, cap: int) -> dict[str, Any]:
    body = await req.read_body(cap)
    try:
        payload = _decode_json(body)
    except msgspec.DecodeError as e:
        raise bad_request(
            f"We could not parse the JSON body of your request ({e}).", code="invalid_json"
        ) from None
    except RecursionError:  # nested deeper than the decoder goes (~1,000 levels)
        raise bad_request(
            "We could not parse the JSON body of your request: it is nested too deeply.",
            code="invalid_json",
        ) from None
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return payload
