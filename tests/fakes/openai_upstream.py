"""A fake OpenAI upstream server for end-to-end tests.

``FakeOpenAI`` runs an ``aiohttp.web`` server on ``127.0.0.1`` (random port) in a
background thread with its own event loop and speaks OpenAI's wire format for the
Chat Completions, legacy Completions, Embeddings and Models APIs, both on the
OpenAI-style paths (``/v1/...``) and the Azure-style paths
(``/openai/deployments/{deployment}/...``).

Every request is recorded in ``up.requests``; behaviour is picked by the request's
``model`` (or the Azure deployment name when the body has no ``model``):

* any ordinary model: a deterministic answer (``DEFAULT_REPLY``), streamed one word
  per chunk when ``stream`` is true;
* ``error-<status>`` (400..599): that status with an OpenAI error body;
* ``text-error-500``: 500 with a ``text/plain`` body;
* ``hang``: never answers (returns when the client goes away or the server stops);
* ``stream-cut``: sends two chunks then closes the connection without ``[DONE]``.

Request headers tune the timing:

* ``x-fake-chunks: N``: answer with N content pieces (``"tok0"``, ``" tok1"``, ...);
* ``x-fake-interval-ms: M``: when streaming, sleep M ms before each content chunk;
* ``x-fake-delay-ms: D``: sleep D ms before answering at all (any mode).

Usage::

    with FakeOpenAI() as up:
        client = OpenAI(base_url=up.base_url, api_key="x")
        ...
        assert up.requests[0].json["model"] == "gpt-4o-mini"
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_REPLY",
    "EMBEDDING_DIMENSIONS",
    "FakeOpenAI",
    "RecordedRequest",
    "fake_embedding",
    "reply_pieces",
]

DEFAULT_REPLY = "Hello from fake upstream"
"""Content of every ordinary (non-error) answer, unless ``x-fake-chunks`` is sent."""

EMBEDDING_DIMENSIONS = 8
"""Length of the fake embedding vectors, unless the request passes ``dimensions``."""

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
)
"""Model ids listed by ``GET /v1/models``."""

_POLL_S = 0.005
"""How often sleeping handlers look for a client disconnect or a server stop."""

_CREATED = 1_700_000_000

_INDEX = web.RequestKey("fake_openai_index", int)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_WaitResult = Literal["ok", "disconnected", "stopping"]


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the fake upstream received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Header names are lower-cased; repeated headers are joined with ``", "``."""
    body: bytes
    json: Any | None
    """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
    received_at: float
    """``time.monotonic()`` when the request's headers arrived."""

    @property
    def model(self) -> str | None:
        """The ``model`` field of a JSON object body, if any."""
        if isinstance(self.json, dict):
            model = self.json.get("model")
            if isinstance(model, str):
                return model
        return None


def fake_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The deterministic vector the fake returns for ``text``.

    Every component is ``(byte - 128) / 128`` for bytes of a SHA-256 stream, so it
    lies in ``[-1, 1)`` and survives a float32 round trip exactly.
    """
    out: list[float] = []
    counter = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{counter}\x00{text}".encode()).digest()
        out.extend((b - 128) / 128 for b in digest)
        counter += 1
    return out[:dimensions]


def reply_pieces(chunks: int | None = None, reply: str = DEFAULT_REPLY) -> list[str]:
    """The content pieces of an answer: one per stream chunk, joined for non-streams.

    Without ``chunks`` the reply is split into words (``["Hello", " from", ...]``);
    with ``chunks=N`` the pieces are ``["tok0", " tok1", ..., " tok{N-1}"]``.
    """
    if chunks is None:
        words = reply.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]
    return [f"tok{i}" if i == 0 else f" tok{i}" for i in range(chunks)]


def _error_details(status: int) -> tuple[str, str | None, str]:
    """(type, code, message) of an OpenAI-style error body for ``status``."""
    if status == 400:
        return "invalid_request_error", "invalid_request", "fake upstream rejected the request"
    if status == 401:
        return "invalid_request_error", "invalid_api_key", "fake upstream: incorrect API key"
    if status == 403:
        return "permission_error", "permission_denied", "fake upstream: permission denied"
    if status == 404:
        return "invalid_request_error", "model_not_found", "fake upstream: model not found"
    if status == 429:
        return "requests", "rate_limit_exceeded", "fake upstream: rate limit reached"
    if status >= 500:
        return "server_error", "server_error", f"fake upstream: server error {status}"
    return "invalid_request_error", f"http_{status}", f"fake upstream: error {status}"


def _error_status(model: str | None) -> int | None:
    """The status an ``error-<status>`` model asks for, if it is one."""
    if model is None or not model.startswith("error-"):
        return None
    suffix = model.removeprefix("error-")
    if not suffix.isdigit():
        return None
    status = int(suffix)
    return status if 400 <= status <= 599 else None


def _header_int(request: web.Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return max(value, 0)


def _count_words(value: Any) -> int:
    """A deterministic stand-in for token counting over any JSON value."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_words(v) for v in value)
    if isinstance(value, dict):
        return sum(_count_words(v) for k, v in value.items() if k in ("content", "text"))
    if isinstance(value, int) and not isinstance(value, bool):
        return 1
    return 0


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


_DONE = b"data: [DONE]\n\n"


def _transport_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class FakeOpenAI:
    """A local OpenAI-compatible HTTP server with scripted behaviours.

    Attributes (read them from the test thread; the server thread only appends):

    * ``requests``: every request received, in arrival order;
    * ``chunk_times[i]``: ``time.monotonic()`` right after each streamed *content*
      chunk of request ``i`` was written to the socket;
    * ``disconnects``: ``(request_index, monotonic time)`` for each request whose
      client went away before the answer was complete;
    * ``base_url`` (``http://127.0.0.1:PORT/v1``), ``root_url``
      (``http://127.0.0.1:PORT``, the Azure endpoint), ``host``, ``port``.

    Every response carries ``x-request-id: fake-<i>`` where ``i`` is the request's
    index in ``requests``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reply: str = DEFAULT_REPLY,
        models: Sequence[str] = DEFAULT_MODELS,
        startup_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.reply = reply
        self.models: tuple[str, ...] = tuple(models)
        self.startup_timeout = startup_timeout
        self.requests: list[RecordedRequest] = []
        self.chunk_times: dict[int, list[float]] = {}
        self.disconnects: list[tuple[int, float]] = []
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Start serving; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI is already started")
        self._ready.clear()
        self._startup_error = None
        thread = threading.Thread(target=self._run, name="FakeOpenAI", daemon=True)
        self._thread = thread
        thread.start()
        if not self._ready.wait(self.startup_timeout):
            self.stop()
            raise RuntimeError("FakeOpenAI did not start in time")
        if self._startup_error is not None:
            error = self._startup_error
            thread.join(self.startup_timeout)
            self._thread = None
            raise RuntimeError("FakeOpenAI failed to start") from error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (idempotent). Pending handlers, ``hang`` included, are ended."""
        thread = self._thread
        if thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("FakeOpenAI did not stop in time")
        self._thread = None
        self._loop = None
        self._stopping = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers for tests

    @property
    def last_request(self) -> RecordedRequest:
        with self.lock:
            if not self.requests:
                raise LookupError("FakeOpenAI has received no request")
            return self.requests[-1]

    def clear(self) -> None:
        """Forget recorded requests, chunk times and disconnects.

        Request indices (and ``x-request-id`` values) restart at 0 afterwards.
        """
        with self.lock:
            self.requests.clear()
            self.chunk_times.clear()
            self.disconnects.clear()

    def wait_for_requests(self, count: int = 1, timeout: float = 2.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests are recorded; returns a snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"expected {count} request(s), got {len(self.requests)}")
            time.sleep(0.002)

    def wait_for_disconnect(
        self, request_index: int | None = None, timeout: float = 2.0
    ) -> tuple[int, float]:
        """Block until a disconnect (of ``request_index`` if given) is recorded."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                for entry in self.disconnects:
                    if request_index is None or entry[0] == request_index:
                        return entry
            if time.monotonic() >= deadline:
                raise TimeoutError("no disconnect recorded")
            time.sleep(0.002)

    # ------------------------------------------------------------------ server thread

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); never escapes the thread
            if not self._ready.is_set():
                self._startup_error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._record])
        app.on_response_prepare.append(self._add_headers)
        for prefix in ("/v1", "/openai/deployments/{deployment}"):
            app.router.add_post(f"{prefix}/chat/completions", self._chat_completions)
            app.router.add_post(f"{prefix}/completions", self._completions)
            app.router.add_post(f"{prefix}/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        received_at = time.monotonic()
        body = await request.read()
        parsed: Any | None = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=headers,
            body=body,
            json=parsed,
            received_at=received_at,
        )
        with self.lock:
            index = len(self.requests)
            self.requests.append(recorded)
        request[_INDEX] = index
        return await handler(request)

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        index = request.get(_INDEX)
        if index is not None:
            response.headers["x-request-id"] = f"fake-{index}"

    # ------------------------------------------------------------------ plumbing

    def _note_disconnect(self, index: int) -> None:
        with self.lock:
            if all(i != index for i, _ in self.disconnects):
                self.disconnects.append((index, time.monotonic()))

    async def _wait(self, request: web.Request, seconds: float | None) -> _WaitResult:
        """Sleep ``seconds`` (forever if ``None``), watching for disconnects and stop."""
        assert self._stopping is not None
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        while True:
            if self._stopping.is_set():
                return "stopping"
            if _transport_gone(request):
                self._note_disconnect(request[_INDEX])
                return "disconnected"
            step = _POLL_S
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return "ok"
                step = min(step, remaining)
            await asyncio.sleep(step)

    async def _send(
        self, request: web.Request, response: web.StreamResponse, data: bytes, content: bool
    ) -> bool:
        """Write one chunk; False (and a recorded disconnect) if the client is gone."""
        index = request[_INDEX]
        if _transport_gone(request):
            self._note_disconnect(index)
            return False
        try:
            await response.write(data)
        except ConnectionError:  # includes aiohttp.ClientConnectionResetError
            self._note_disconnect(index)
            return False
        if content:
            sent_at = time.monotonic()
            with self.lock:
                self.chunk_times.setdefault(index, []).append(sent_at)
        return True

    def _error(
        self,
        status: int,
        message: str | None = None,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> web.Response:
        default_type, default_code, default_message = _error_details(status)
        body = {
            "error": {
                "message": message if message is not None else default_message,
                "type": error_type if error_type is not None else default_type,
                "param": param,
                "code": code if code is not None else default_code,
            }
        }
        response = web.json_response(body, status=status)
        if status == 429:
            response.headers["retry-after"] = "7"
            response.headers["x-ratelimit-remaining-requests"] = "0"
        return response

    def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The request's JSON object body with ``model`` resolved, or an error response."""
        index = request[_INDEX]
        with self.lock:
            parsed = self.requests[index].json
        if not isinstance(parsed, dict):
            return self._error(
                400,
                "We could not parse the JSON body of your request.",
                code="invalid_json",
            )
        body = dict(parsed)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            deployment = request.match_info.get("deployment")
            if deployment is None:
                return self._error(
                    400, "you must provide a model parameter", code="missing_model", param="model"
                )
            body["model"] = deployment
        return body

    async def _special(
        self, request: web.Request, body: dict[str, Any]
    ) -> web.StreamResponse | None:
        """Handle the model-driven special cases shared by all POST endpoints."""
        model: str = body["model"]
        delay_ms = _header_int(request, "x-fake-delay-ms")
        if delay_ms:
            outcome = await self._wait(request, delay_ms / 1000)
            if outcome != "ok":
                return await self._abandon(request)
        status = _error_status(model)
        if status is not None:
            return self._error(status)
        if model == "text-error-500":
            return web.Response(status=500, text="upstream exploded", content_type="text/plain")
        if model == "hang":
            await self._wait(request, None)
            return await self._abandon(request)
        return None

    async def _abandon(self, request: web.Request) -> web.StreamResponse:
        """Drop the connection without an answer (client gone or server stopping)."""
        transport = request.transport
        if transport is not None:
            transport.close()
        # aiohttp fails to write this to the closed transport and ignores it quietly.
        return web.Response(status=503)

    async def _stream(
        self,
        request: web.Request,
        make_chunk: Callable[[dict[str, Any] | None, str | None, str | None], dict[str, Any]],
        pieces: list[str],
        usage: dict[str, int],
        include_usage: bool,
        role_chunk: dict[str, Any] | None,
    ) -> web.StreamResponse:
        """Stream SSE chunks; ``make_chunk(delta_or_none, text, finish_reason)``."""
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            }
        )
        await response.prepare(request)
        interval_ms = _header_int(request, "x-fake-interval-ms") or 0

        def with_usage(chunk: dict[str, Any]) -> dict[str, Any]:
            if include_usage:
                chunk["usage"] = None
            return chunk

        if role_chunk is not None and not await self._send(
            request, response, _sse(with_usage(role_chunk)), content=False
        ):
            return response
        for i, piece in enumerate(pieces):
            if interval_ms:
                outcome = await self._wait(request, interval_ms / 1000)
                if outcome == "disconnected":
                    return response
                if outcome == "stopping":
                    return await self._abandon(request)
            finish = "stop" if i == len(pieces) - 1 else None
            chunk = with_usage(make_chunk(None, piece, finish))
            if not await self._send(request, response, _sse(chunk), content=True):
                return response
        if not pieces:  # ``x-fake-chunks: 0``: an empty answer still has a finish chunk
            done = with_usage(make_chunk(None, None, "stop"))
            if not await self._send(request, response, _sse(done), content=False):
                return response
        if include_usage:
            final = make_chunk(None, None, None)
            final["choices"] = []
            final["usage"] = usage
            if not await self._send(request, response, _sse(final), content=False):
                return response
        if await self._send(request, response, _DONE, content=False):
            await response.write_eof()
        return response

    async def _cut(
        self, request: web.Request, events: list[dict[str, Any]], stream: bool, full: Any
    ) -> web.StreamResponse:
        """``stream-cut``: send a partial answer, then close the connection."""
        if stream:
            response = web.StreamResponse(
                headers={"content-type": "text/event-stream; charset=utf-8"}
            )
            await response.prepare(request)
            for event in events:
                if not await self._send(request, response, _sse(event), content=True):
                    return response
        else:
            data = json.dumps(full).encode()
            response = web.StreamResponse(headers={"content-type": "application/json"})
            response.content_length = len(data)
            await response.prepare(request)
            if not await self._send(request, response, data[: len(data) // 2], content=False):
                return response
        transport = request.transport
        if transport is not None:
            transport.close()
        return response

    # ------------------------------------------------------------------ endpoints

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        if isinstance(body, web.Response):
            return body
        special = await self._special(request, body)
        if special is not None:
            return special
        index = request[_INDEX]
        model: str = body["model"]
        pieces = reply_pieces(_header_int(request, "x-fake-chunks"), self.reply)
        prompt_tokens = max(_count_words(body.get("messages")), 1)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        completion_id = f"chatcmpl-fake-{index}"
        created = int(time.time())

        def chunk(
            delta: dict[str, Any] | None, text: str | None, finish: str | None
        ) -> dict[str, Any]:
            if delta is None:
                delta = {} if text is None else {"content": text}
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }

        stream = body.get("stream") is True
        if model == "stream-cut":
            events = [
                chunk({"role": "assistant", "content": pieces[0] if pieces else ""}, None, None),
                *(chunk(None, p, None) for p in pieces[1:2]),
            ]
            return await self._cut(request, events, stream, {"id": completion_id})
        if stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            role = chunk({"role": "assistant", "content": ""}, None, None)
            return await self._stream(request, chunk, pieces, usage, include_usage, role)
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "".join(pieces),
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        if isinstance(body, web.Response):
            return body
        special = await self._special(request, body)
        if special is not None:
            return special
        index = request[_INDEX]
        model: str = body["model"]
        pieces = reply_pieces(_header_int(request, "x-fake-chunks"), self.reply)
        prompt_tokens = max(_count_words(body.get("prompt")), 1)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        completion_id = f"cmpl-fake-{index}"
        created = int(time.time())

        def chunk(
            delta: dict[str, Any] | None, text: str | None, finish: str | None
        ) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"text": text or "", "index": 0, "logprobs": None, "finish_reason": finish}
                ],
            }

        stream = body.get("stream") is True
        if model == "stream-cut":
            events = [chunk(None, p, None) for p in pieces[:2]]
            return await self._cut(request, events, stream, {"id": completion_id})
        if stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            return await self._stream(request, chunk, pieces, usage, include_usage, None)
        result = chunk(None, "".join(pieces), "stop")
        result["usage"] = usage
        return web.json_response(result)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        if isinstance(body, web.Response):
            return body
        special = await self._special(request, body)
        if special is not None:
            return special
        raw_input = body.get("input")
        texts = list(_embedding_texts(raw_input))
        if not texts:
            return self._error(400, "'input' must be a non-empty string or array", param="input")
        dimensions = body.get("dimensions", EMBEDDING_DIMENSIONS)
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
            return self._error(400, "'dimensions' must be a positive integer", param="dimensions")
        as_base64 = body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        for i, text in enumerate(texts):
            vector = fake_embedding(text, dimensions)
            embedding: list[float] | str = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        prompt_tokens = max(_count_words(raw_input), 1)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
            },
        )

    def _model_object(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": _CREATED, "owned_by": "fake-upstream"}

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"object": "list", "data": [self._model_object(m) for m in self.models]}
        )

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if model not in self.models:
            return self._error(
                404, f"The model '{model}' does not exist", code="model_not_found", param="model"
            )
        return web.json_response(self._model_object(model))

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "error": {
                    "message": f"Invalid URL ({request.method} {request.path})",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            status=404,
        )


def _embedding_texts(raw: Any) -> Iterator[str]:
    """The inputs of an embeddings request as strings (token arrays are stringified)."""
    if isinstance(raw, str):
        yield raw
        return
    if not isinstance(raw, list) or not raw:
        return
    if all(isinstance(t, int) and not isinstance(t, bool) for t in raw):
        yield json.dumps(raw)
        return
    for item in raw:
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            yield json.dumps(item)
