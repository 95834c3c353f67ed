"""A threaded ``aiohttp`` test server that records what it receives.

``RecordingServer`` runs an ``aiohttp.web`` application on its own event loop in a
background thread, records every request (``RecordedRequest``), the send time of
every streamed content chunk and every client disconnect, and gives route handlers
the plumbing to sleep and write while watching for disconnects and for ``stop()``.
Subclasses add their routes in ``_add_routes``; ``openai_upstream.FakeOpenAI`` is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Self

from aiohttp import web

from tests.service import Service

__all__ = ["RecordedRequest", "RecordingServer", "request_index"]

_POLL_S = 0.005
"""How often sleeping handlers look for a client disconnect or a server stop."""

_INDEX = web.RequestKey("recording_server_index", int)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_WaitResult = Literal["ok", "disconnected", "stopping"]
"""How ``RecordingServer._wait`` ended: slept in full, client gone, or server stopping."""


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server received it."""

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
    fault: str | None = None
    """The fault injected into the answer, if any (see ``faults``); set by subclasses."""

    @property
    def model(self) -> str | None:
        """The ``model`` field of a JSON object body, if any."""
        if isinstance(self.json, dict):
            model = self.json.get("model")
            if isinstance(model, str):
                return model
        return None


def request_index(request: web.Request) -> int:
    """The index in ``RecordingServer.requests`` of a request being handled."""
    return request[_INDEX]


def _transport_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class RecordingServer(Service):
    """A local HTTP server that records requests, streamed chunks and disconnects.

    Attributes (read them from the test thread; the server thread only appends):

    * ``requests``: every request received, in arrival order;
    * ``chunk_times[i]``: ``time.monotonic()`` as each streamed *content* chunk of request
      ``i`` was written to the socket;
    * ``disconnects``: ``(request_index, monotonic time)`` for each request whose
      client went away before the answer was complete;
    * ``response_started[i]``: ``time.monotonic()`` when the response head of request
      ``i`` was about to be sent (absent if it never was);
    * ``root_url`` (``http://127.0.0.1:PORT``), ``host``, ``port``;
    * ``lock``: guards the three recordings above.

    Every response carries ``x-request-id: fake-<i>`` where ``i`` is the request's
    index in ``requests``.
    """

    def __init__(self, host: str, port: int, *, startup_timeout: float) -> None:
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.requests: list[RecordedRequest] = []
        self.chunk_times: dict[int, list[float]] = {}
        self.disconnects: list[tuple[int, float]] = []
        self.response_started: dict[int, float] = {}
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @abstractmethod
    def _add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the server's handlers; called on the server thread at startup."""

    def _annotate(self, request: web.Request, recorded: RecordedRequest) -> RecordedRequest:
        """Adjust a request's record (e.g. its ``fault``) just before it is stored."""
        return recorded

    # ------------------------------------------------------------------ lifecycle

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Start serving; returns once the port is bound."""
        name = type(self).__name__
        if self._thread is not None:
            raise RuntimeError(f"{name} is already started")
        self._ready.clear()
        self._startup_error = None
        thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread = thread
        thread.start()
        if not self._ready.wait(self.startup_timeout):
            self.stop()
            raise RuntimeError(f"{name} did not start in time")
        if self._startup_error is not None:
            error = self._startup_error
            thread.join(self.startup_timeout)
            self._thread = None
            raise RuntimeError(f"{name} failed to start") from error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (idempotent). Pending handlers, sleeping ones included, are ended."""
        thread = self._thread
        if thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"{type(self).__name__} did not stop in time")
        self._thread = None
        self._loop = None
        self._stopping = None

    # ------------------------------------------------------------------ helpers for tests

    @property
    def last_request(self) -> RecordedRequest:
        with self.lock:
            if not self.requests:
                raise LookupError(f"{type(self).__name__} has received no request")
            return self.requests[-1]

    def clear(self) -> None:
        """Forget recorded requests, chunk times, response starts and disconnects.

        Request indices (and ``x-request-id`` values) restart at 0 afterwards.
        """
        with self.lock:
            self.requests.clear()
            self.chunk_times.clear()
            self.disconnects.clear()
            self.response_started.clear()

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
        self._add_routes(app.router)
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
        recorded = self._annotate(request, recorded)
        with self.lock:
            index = len(self.requests)
            self.requests.append(recorded)
        request[_INDEX] = index
        return await handler(request)

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        index = request.get(_INDEX)
        if index is not None:
            response.headers["x-request-id"] = f"fake-{index}"
            if not _transport_gone(request):
                started_at = time.monotonic()
                with self.lock:
                    self.response_started[index] = started_at

    # ------------------------------------------------------------------ plumbing for handlers

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
        """Write one chunk; False (and a recorded disconnect) if the client is gone.

        ``content`` chunks have their send time recorded in ``chunk_times``: read just before
        the write, since the client (in another thread) may have the bytes before this thread
        runs again after it.
        """
        index = request[_INDEX]
        if _transport_gone(request):
            self._note_disconnect(index)
            return False
        sent_at = time.monotonic()
        try:
            await response.write(data)
        except ConnectionError:  # includes aiohttp.ClientConnectionResetError
            self._note_disconnect(index)
            return False
        if content:
            with self.lock:
                self.chunk_times.setdefault(index, []).append(sent_at)
        return True

    async def _finish(
        self, request: web.Request, response: web.StreamResponse
    ) -> web.StreamResponse:
        """End a streamed body. A client may close as soon as it has read the last event
        (``[DONE]``); it has the whole answer, so that is neither an error nor a disconnect."""
        with contextlib.suppress(ConnectionError):  # incl. aiohttp.ClientConnectionResetError
            await response.write_eof()
        return response

    async def _abandon(self, request: web.Request) -> web.StreamResponse:
        """Drop the connection without an answer (client gone or server stopping)."""
        transport = request.transport
        if transport is not None:
            transport.close()
        # aiohttp fails to write this to the closed transport and ignores it quietly.
        return web.Response(status=503)
