"""A fake Anthropic upstream (Messages API) for end-to-end tests.

``FakeAnthropic`` runs on ``127.0.0.1`` (random port) in a background thread and speaks the
Messages API wire format as Anthropic documents it: ``POST /v1/messages`` (JSON or SSE with
``event:`` names), ``POST /v1/messages/count_tokens``, ``request-id`` headers and
``{"type": "error", ...}`` error bodies. Like the real API it refuses requests without
``x-api-key`` or ``anthropic-version``, without ``max_tokens``, with fields it does not know,
or with a ``tool_result`` that answers no ``tool_use`` of the previous assistant turn.

Behaviour by ``model``:

* any ordinary model: ``REPLY`` (one text delta per word when streaming); with ``tools``
  (and ``tool_choice`` not ``none``) and a last user turn without tool results, a text block
  and a ``tool_use`` of the first tool with ``TOOL_INPUT``; after a tool result, a text
  answer quoting it; ``max_tokens`` below the word count cuts the answer (``max_tokens``);
* ``cached``: the ordinary answer with cache read/creation tokens in its usage;
* ``error-<status>``: that status with Anthropic's error body (529: ``overloaded_error``);
* ``stream-error``: a stream that sends a text delta, then an ``overloaded_error`` event;
* ``stream-cut``: a stream that stops after the first text delta, without ``message_stop``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .anthropic_wire import (
    REPLY,
    TOOL_INPUT,
    error_body,
    event,
    message,
    stream_events,
    text_block,
    tool_use_block,
    usage,
)
from .openai_wire import count_words
from .recording_server import RecordedRequest, RecordingServer, request_index

__all__ = ["REPLY", "TOOL_INPUT", "FakeAnthropic", "RecordedRequest"]

_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
}


def _error(status: int, text: str | None = None) -> web.Response:
    response = web.json_response(error_body(status, text), status=status)
    if status in (429, 529):
        response.headers["retry-after"] = "3"
        response.headers["anthropic-ratelimit-requests-remaining"] = "0"
    return response


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _check(body: Any, *, count_tokens: bool) -> str | None:
    """What the real API would reject in this body, or None."""
    if not isinstance(body, dict):
        return "The request body is not valid JSON."
    required = ("model", "messages") if count_tokens else ("model", "messages", "max_tokens")
    for name in required:
        if name not in body:
            return f"{name}: Field required"
    for name in body:
        if name not in _FIELDS:
            return f"{name}: Extra inputs are not permitted"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    previous_tool_ids: set[str] = set()
    used_tools = False
    for i, m in enumerate(messages):
        if m.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        blocks = _blocks(m.get("content"))
        for b in blocks:
            if b.get("type") == "tool_result":
                used_tools = True
                if b.get("tool_use_id") not in previous_tool_ids:
                    return (
                        f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{b.get('tool_use_id')}"
                    )
            if b.get("type") == "tool_use":
                used_tools = True
            if b.get("type") == "image" and b.get("source", {}).get("type") not in (
                "base64",
                "url",
            ):
                return f"messages.{i}: invalid image source"
        previous_tool_ids = {b["id"] for b in blocks if b.get("type") == "tool_use"}
    if used_tools and not body.get("tools"):
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    return None


class FakeAnthropic(RecordingServer):
    """See the module doc. ``root_url`` is the ``api_base`` of a deployment."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, reply: str = REPLY) -> None:
        super().__init__(host, port, startup_timeout=5.0)
        self.reply = reply

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/messages", self._messages)
        router.add_post("/v1/messages/count_tokens", self._count_tokens)
        router.add_route("*", "/{tail:.*}", self._not_found)

    def _body(self, request: web.Request, *, count_tokens: bool) -> dict[str, Any] | web.Response:
        if not request.headers.get("x-api-key"):
            return _error(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        with self.lock:
            body = self.requests[request_index(request)].json
        problem = _check(body, count_tokens=count_tokens)
        if problem is not None:
            return _error(400, problem)
        assert isinstance(body, dict)
        return body

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request, count_tokens=True)
        if isinstance(body, web.Response):
            return body
        tokens = count_words(body["messages"]) + count_words(body.get("system"))
        return web.json_response({"input_tokens": tokens}, headers=self._headers(request))

    def _headers(self, request: web.Request) -> dict[str, str]:
        return {"request-id": f"req_fake_{request_index(request)}"}

    def _answer(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        """The finished message for a request."""
        model: str = body["model"]
        messages = body["messages"]
        last = _blocks(messages[-1].get("content"))
        results = [b for b in last if b.get("type") == "tool_result"]
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {}
        content: list[dict[str, Any]]
        if results:
            quoted = results[0].get("content")
            quoted = quoted if isinstance(quoted, str) else json.dumps(quoted)
            text, content, stop = f"The tool said: {quoted}", [], "end_turn"
        elif tools and choice.get("type") != "none" and messages[-1].get("role") == "user":
            name = choice.get("name") if choice.get("type") == "tool" else tools[0]["name"]
            tool_id = f"toolu_fake_{request_index(request)}"
            text, content, stop = (
                "Let me check.",
                [tool_use_block(tool_id, name, TOOL_INPUT)],
                "tool_use",
            )
        else:
            text, content, stop = self.reply, [], "end_turn"
        words = text.split(" ")
        if len(words) > body["max_tokens"]:
            words, content, stop = words[: body["max_tokens"]], [], "max_tokens"
        content.insert(0, text_block(" ".join(words)))
        prompt = count_words(messages) + count_words(body.get("system"))
        output = len(words) + (8 if stop == "tool_use" else 0)
        cached = (7, 3) if model == "cached" else (0, 0)
        return message(
            f"msg_fake_{request_index(request)}",
            model,
            content,
            stop,
            usage(prompt, output, *cached),
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request, count_tokens=False)
        if isinstance(body, web.Response):
            return body
        model: str = body["model"]
        if model.startswith("error-"):
            return _error(int(model.removeprefix("error-")))
        msg = self._answer(request, body)
        if body.get("stream") is not True:
            return web.json_response(msg, headers=self._headers(request))
        pieces: list[list[str]] = []
        for block in msg["content"]:
            if block["type"] == "text":
                words = block["text"].split(" ")
                pieces.append([w if i == 0 else " " + w for i, w in enumerate(words)])
            else:
                raw = json.dumps(block["input"])
                third = max(len(raw) // 3, 1)
                pieces.append(["", raw[:third], raw[third : 2 * third], raw[2 * third :]])
        events = stream_events(msg, pieces)
        if model == "stream-error":
            failure = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
            events = [*events[:4], event("error", failure)]
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                **self._headers(request),
            }
        )
        await response.prepare(request)
        cut = model == "stream-cut"
        for i, data in enumerate(events):
            if cut and i == 4:
                transport = request.transport
                if transport is not None:
                    transport.close()
                return response
            if not await self._send(request, response, data, content=True):
                return response
        return await self._finish(request, response)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _error(404, f"Not found: {request.method} {request.path}")
