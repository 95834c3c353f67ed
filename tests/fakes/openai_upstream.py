"""A fake OpenAI upstream server for end-to-end tests.

``FakeOpenAI`` runs an ``aiohttp.web`` server on ``127.0.0.1`` (random port) in a
background thread with its own event loop and speaks OpenAI's wire format for the
Chat Completions, legacy Completions, Embeddings and Models APIs, both on the
OpenAI-style paths (``/v1/...``) and the Azure-style paths
(``/openai/deployments/{deployment}/...``).
The Responses API (``/v1/responses``, Azure's ``/openai/responses``) answers as OpenAI
does (``responses_wire``): the reply text, or a call of the first function tool.

Every request is recorded in ``up.requests``; behaviour is picked by the request's
``model`` (or the Azure deployment name when the body has no ``model``):

* any ordinary model: a deterministic answer (``DEFAULT_REPLY``), streamed one word
  per chunk when ``stream`` is true;
* ``error-<status>`` (400..599): that status with an OpenAI error body;
* ``text-error-500``: 500 with a ``text/plain`` body;
* ``hang``: never answers (returns when the client goes away or the server stops);
* ``stream-cut``: sends two chunks then closes the connection without ``[DONE]``;
* ``fault-<name>``: the fault ``<name>`` (see below).

Faults for retry/failover tests (``faults`` has the catalogue and the details) are
chosen by the ``x-fault`` header (or a ``fault-<name>`` model) and counted by
``x-fault-times`` / ``x-fault-key``; each record's ``fault`` names the one applied.

Request headers tune the timing:

* ``x-fake-chunks: N``: answer with N content pieces (``"tok0"``, ``" tok1"``, ...);
* ``x-fake-interval-ms: M``: when streaming, sleep M ms before each content chunk;
* ``x-fake-delay-ms: D``: sleep D ms before answering at all (any mode);
* ``x-fake-hold-ms: H``: when streaming, keep the body open H ms after the last event.

Usage::

    with FakeOpenAI() as up:
        client = OpenAI(base_url=up.base_url, api_key="x")
        ...
        assert up.requests[0].json["model"] == "gpt-4o-mini"

This module holds the routes and the scripted behaviours; the payloads come from
``openai_wire`` and the threading, recording and disconnect plumbing from
``recording_server``. The names tests use are all re-exported here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from . import responses_wire
from .faults import (
    FaultBook,
    FaultPlan,
    SseEvent,
    abort_with_rst,
    early_response,
    shape_stream,
)
from .openai_wire import (
    DEFAULT_REPLY,
    EMBEDDING_DIMENSIONS,
    SSE_DONE,
    chat_chunk,
    chat_completion,
    count_words,
    embedding_texts,
    embeddings_response,
    error_body,
    error_status,
    fake_embedding,
    invalid_url_body,
    model_list,
    model_object,
    reply_pieces,
    sse,
    text_completion,
    token_usage,
)
from .recording_server import RecordedRequest, RecordingServer, request_index

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_REPLY",
    "EMBEDDING_DIMENSIONS",
    "FakeOpenAI",
    "RecordedRequest",
    "fake_embedding",
    "reply_pieces",
]

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
)
"""Model ids listed by ``GET /v1/models``."""

_FAULT = web.RequestKey("fake_openai_fault", FaultPlan)
"""The fault chosen for a request when it was recorded, if any."""

_ChunkMaker = Callable[[str | None, str | None], dict[str, Any]]
"""Builds one stream chunk from ``(content_text, finish_reason)``."""


def _header_int(request: web.Request, name: str) -> int | None:
    """A non-negative integer header (negatives clamp to 0), or ``None`` if absent or bad."""
    raw = request.headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return max(value, 0)


def _error(status: int, message: str | None = None, **fields: str) -> web.Response:
    """A JSON error response (``fields``: ``error_body``'s ``code`` or ``param``); 429s carry
    OpenAI's rate-limit headers too."""
    response = web.json_response(error_body(status, message, **fields), status=status)
    if status == 429:
        response.headers["retry-after"] = "7"
        response.headers["x-ratelimit-remaining-requests"] = "0"
    return response


def _include_usage(body: dict[str, Any]) -> bool:
    """Whether a streaming request asked for a final usage chunk."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


@dataclass(frozen=True)
class _Reply:
    """The ordinary answer to a completion request (chat or legacy), before it is framed."""

    model: str
    completion_id: str
    created: int
    pieces: list[str]
    """The content pieces (``reply_pieces``): one per stream chunk, joined otherwise."""
    usage: dict[str, int]
    stream: bool
    include_usage: bool
    """Whether a stream ends with a usage chunk (``stream_options.include_usage``)."""


class FakeOpenAI(RecordingServer):
    """A local OpenAI-compatible HTTP server with scripted behaviours (see the module doc).

    Besides what ``RecordingServer`` records (``requests``, ``chunk_times``,
    ``disconnects``, each response's ``x-request-id: fake-<i>``) and exposes
    (``root_url``, which is also the Azure endpoint, ``host``, ``port``), it has:

    * ``base_url``: ``http://127.0.0.1:PORT/v1``, for OpenAI-style clients;
    * ``reply`` and ``models``: the answer text and the ids ``GET /v1/models`` lists;
    * ``faults``: the ``x-fault-times`` counters (reset by ``clear()``).
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
        super().__init__(host, port, startup_timeout=startup_timeout)
        self.reply = reply
        self.models: tuple[str, ...] = tuple(models)
        self.faults = FaultBook()

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def clear(self) -> None:
        """Forget the recordings and the ``x-fault-times`` counters."""
        super().clear()
        self.faults.clear()

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        for prefix in ("/v1", "/openai/deployments/{deployment}"):
            router.add_post(f"{prefix}/chat/completions", self._chat_completions)
            router.add_post(f"{prefix}/completions", self._completions)
            router.add_post(f"{prefix}/embeddings", self._embeddings)
        # The Responses API (Azure's is per resource, not per deployment).
        router.add_post("/v1/responses", self._responses)
        router.add_post("/openai/responses", self._responses)
        router.add_get("/v1/models", self._list_models)
        router.add_get("/v1/models/{model}", self._get_model)
        router.add_route("*", "/{tail:.*}", self._not_found)

    # ------------------------------------------------------------------ shared behaviour

    def _annotate(self, request: web.Request, recorded: RecordedRequest) -> RecordedRequest:
        """Choose the request's fault (POST endpoints with a JSON object body only)."""
        handler = request.match_info.handler
        streamable = handler in (self._chat_completions, self._completions)
        if not streamable and handler != self._embeddings:
            return recorded
        if not isinstance(recorded.json, dict):
            return recorded
        model = recorded.json.get("model")
        if not isinstance(model, str) or not model:
            model = request.match_info.get("deployment")
        stream = recorded.json.get("stream") is True if streamable else None
        plan = self.faults.choose(recorded.headers, model, stream)
        if plan is None:
            return recorded
        request[_FAULT] = plan
        return replace(recorded, fault=plan.name) if plan.known else recorded

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        """Apply the request's fault before any answer; ``None`` to go on answering."""
        plan = request.get(_FAULT)
        if plan is None:
            return None
        early = early_response(plan)
        if early is not None:
            return early
        if plan.name == "reset":
            abort_with_rst(request)
            return await self._abandon(request)
        if plan.name == "never-answer":
            await self._wait(request, None)
            return await self._abandon(request)
        if plan.name == "slow-first-token" and plan.delay_ms:
            outcome = await self._wait(request, plan.delay_ms / 1000)
            if outcome != "ok":
                return await self._abandon(request)
        return None

    def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The request's JSON object body with ``model`` resolved, or an error response."""
        with self.lock:
            parsed = self.requests[request_index(request)].json
        if not isinstance(parsed, dict):
            return _error(
                400,
                "We could not parse the JSON body of your request.",
                code="invalid_json",
            )
        body = dict(parsed)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            deployment = request.match_info.get("deployment")
            if deployment is None:
                return _error(
                    400, "you must provide a model parameter", code="missing_model", param="model"
                )
            body["model"] = deployment
        return body

    async def _answerable(self, request: web.Request) -> dict[str, Any] | web.StreamResponse:
        """The body of a request to a POST endpoint, or the response that already answers it:
        a bad body, a fault or a special model (``_special``)."""
        body = self._body(request)
        if isinstance(body, web.Response):
            return body
        special = await self._special(request, body)
        return body if special is None else special

    async def _special(
        self, request: web.Request, body: dict[str, Any]
    ) -> web.StreamResponse | None:
        """Handle the model-driven special cases shared by all POST endpoints."""
        fault = await self._fault(request)
        if fault is not None:
            return fault
        model: str = body["model"]
        delay_ms = _header_int(request, "x-fake-delay-ms")
        if delay_ms:
            outcome = await self._wait(request, delay_ms / 1000)
            if outcome != "ok":
                return await self._abandon(request)
        status = error_status(model)
        if status is not None:
            return _error(status)
        if model == "text-error-500":
            return web.Response(status=500, text="upstream exploded", content_type="text/plain")
        if model == "hang":
            await self._wait(request, None)
            return await self._abandon(request)
        return None

    def _reply(
        self, request: web.Request, body: dict[str, Any], prompt_field: str, id_prefix: str
    ) -> _Reply:
        """The answer to ``body``, whose prompt (counted for ``usage``) is ``prompt_field``."""
        pieces = reply_pieces(_header_int(request, "x-fake-chunks"), self.reply)
        return _Reply(
            model=body["model"],
            completion_id=f"{id_prefix}-fake-{request_index(request)}",
            created=int(time.time()),
            pieces=pieces,
            usage=token_usage(max(count_words(body.get(prompt_field)), 1), len(pieces)),
            stream=body.get("stream") is True,
            include_usage=_include_usage(body),
        )

    async def _stream(
        self,
        request: web.Request,
        make_chunk: _ChunkMaker,
        reply: _Reply,
        role_chunk: dict[str, Any] | None,
    ) -> web.StreamResponse:
        """Stream ``role_chunk`` (if any), one chunk per piece, usage (if asked), ``[DONE]``.

        A stream fault rewrites these events (``faults.shape_stream``).
        """
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            }
        )
        await response.prepare(request)
        interval_ms = _header_int(request, "x-fake-interval-ms") or 0
        pieces, include_usage = reply.pieces, reply.include_usage

        def with_usage(chunk: dict[str, Any]) -> dict[str, Any]:
            if include_usage:
                chunk["usage"] = None
            return chunk

        events: list[SseEvent] = []
        if role_chunk is not None:
            events.append(SseEvent(sse(with_usage(role_chunk)), content=False))
        for i, piece in enumerate(pieces):
            finish = "stop" if i == len(pieces) - 1 else None
            events.append(SseEvent(sse(with_usage(make_chunk(piece, finish))), content=True))
        if not pieces:  # ``x-fake-chunks: 0``: an empty answer still has a finish chunk
            events.append(SseEvent(sse(with_usage(make_chunk(None, "stop"))), content=False))
        if include_usage:
            final = make_chunk(None, None)
            final["choices"] = []
            final["usage"] = reply.usage
            events.append(SseEvent(sse(final), content=False))
        events.append(SseEvent(SSE_DONE, content=False))
        events, ending = shape_stream(request.get(_FAULT), events)
        for event in events:
            if event.content and interval_ms:
                outcome = await self._wait(request, interval_ms / 1000)
                if outcome == "disconnected":
                    return response
                if outcome == "stopping":
                    return await self._abandon(request)
            if not await self._send(request, response, event.data, content=event.content):
                return response
        if ending == "stall":
            if await self._wait(request, None) == "stopping":
                return await self._abandon(request)
            return response
        # x-fake-hold-ms keeps the body open after the last event, as a slow upstream may.
        hold_ms = _header_int(request, "x-fake-hold-ms")
        if hold_ms and await self._wait(request, hold_ms / 1000) == "stopping":
            return await self._abandon(request)
        return await self._finish(request, response)

    async def _cut(
        self, request: web.Request, events: list[dict[str, Any]], reply: _Reply
    ) -> web.StreamResponse:
        """``stream-cut``: send a partial answer (``events`` of a stream, or half a JSON body),
        then close the connection."""
        if reply.stream:
            response = web.StreamResponse(
                headers={"content-type": "text/event-stream; charset=utf-8"}
            )
            await response.prepare(request)
            for event in events:
                if not await self._send(request, response, sse(event), content=True):
                    return response
        else:
            data = json.dumps({"id": reply.completion_id}).encode()
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
        body = await self._answerable(request)
        if not isinstance(body, dict):
            return body
        reply = self._reply(request, body, "messages", "chatcmpl")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return chat_chunk(reply.completion_id, reply.created, reply.model, delta, finish)

        def content(text: str | None, finish: str | None) -> dict[str, Any]:
            return chunk({} if text is None else {"content": text}, finish)

        pieces = reply.pieces
        if reply.model == "stream-cut":
            first = chunk({"role": "assistant", "content": pieces[0] if pieces else ""})
            return await self._cut(
                request, [first, *(content(p, None) for p in pieces[1:2])], reply
            )
        if reply.stream:
            role = chunk({"role": "assistant", "content": ""})
            return await self._stream(request, content, reply, role)
        return web.json_response(
            chat_completion(
                reply.completion_id, reply.created, reply.model, "".join(pieces), reply.usage
            )
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._answerable(request)
        if not isinstance(body, dict):
            return body
        reply = self._reply(request, body, "prompt", "cmpl")

        def chunk(text: str | None, finish: str | None) -> dict[str, Any]:
            return text_completion(reply.completion_id, reply.created, reply.model, text, finish)

        if reply.model == "stream-cut":
            return await self._cut(request, [chunk(p, None) for p in reply.pieces[:2]], reply)
        if reply.stream:
            return await self._stream(request, chunk, reply, None)
        return web.json_response(chunk("".join(reply.pieces), "stop") | {"usage": reply.usage})

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._answerable(request)
        if not isinstance(body, dict):
            return body
        raw_input = body.get("input")
        texts = list(embedding_texts(raw_input))
        if not texts:
            return _error(400, "'input' must be a non-empty string or array", param="input")
        dimensions = body.get("dimensions", EMBEDDING_DIMENSIONS)
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
            return _error(400, "'dimensions' must be a positive integer", param="dimensions")
        return web.json_response(
            embeddings_response(
                body["model"],
                texts,
                dimensions,
                as_base64=body.get("encoding_format") == "base64",
                prompt_tokens=max(count_words(raw_input), 1),
            )
        )

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        """The Responses API in OpenAI's format (pretty-printed JSON, as OpenAI sends it, so
        that a pass-through is seen to keep the bytes): the reply text as a message item, or
        a call of the first function tool; a stream as OpenAI's event sequence (``stream-cut``:
        its first events, then the connection closed)."""
        body = await self._answerable(request)
        if not isinstance(body, dict):
            return body
        reply = self._reply(request, body, "input", "resp")
        tools = [t for t in body.get("tools") or () if t.get("type") == "function"]
        call = (
            responses_wire.function_call(reply.completion_id, tools[0]["name"]) if tools else None
        )
        events = responses_wire.stream_events(body, reply.completion_id, reply.created,
                                              reply.pieces, reply.usage, call)  # fmt: skip
        if not reply.stream:
            final = events[-1]["response"]
            return web.Response(body=json.dumps(final, indent=2).encode(),
                                content_type="application/json")  # fmt: skip
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        cut = reply.model == "stream-cut"
        for event in events[:5] if cut else events:
            data = b"event: " + event["type"].encode() + b"\ndata: " + json.dumps(event).encode()
            if not await self._send(request, response, data + b"\n\n", content=True):
                return response
        if cut and request.transport is not None:
            request.transport.close()
            return response
        return await self._finish(request, response)

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(model_list(self.models))

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if model not in self.models:
            return _error(
                404, f"The model '{model}' does not exist", code="model_not_found", param="model"
            )
        return web.json_response(model_object(model))

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(invalid_url_body(request.method, request.path), status=404)
