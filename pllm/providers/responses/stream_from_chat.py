"""OpenAI ``chat.completion.chunk`` stream -> Responses API stream events.

Fed the ``data:`` payload of each chat event (``[DONE]`` included), it returns the Responses
events (``event:`` and ``data:`` lines, each with its ``sequence_number``) to send:
``response.created`` and ``response.in_progress`` first; then for the text a ``message`` item
(``output_item.added``, ``content_part.added``, ``output_text.delta``…, ``output_text.done``,
``content_part.done``, ``output_item.done``) and for each tool call a ``function_call`` item
(``output_item.added``, ``function_call_arguments.delta``…, ``.done``, ``output_item.done``);
``response.completed`` (or ``response.incomplete``) last, at ``[DONE]``, since chat reports
usage after the finish reason. Its ``response`` is the object the whole reply translates to.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.errors import GatewayError
from pllm.providers.responses.wire import (
    INCOMPLETE,
    ChatMessage,
    ChatUsage,
    ToolCall,
    function_item,
    function_item_id,
    message_item,
    message_item_id,
    response_id,
    response_object,
    text_part,
)
from pllm.usage import Usage


class _Choice(msgspec.Struct):
    delta: ChatMessage = msgspec.field(default_factory=ChatMessage)
    finish_reason: str | None = None


class _ErrorObject(msgspec.Struct):
    message: str = "The upstream stream failed."
    code: str | int | None = None


class _Chunk(msgspec.Struct):
    id: str = ""
    created: int = 0
    choices: list[_Choice] = []
    usage: ChatUsage | None = None
    error: _ErrorObject | None = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode
_encode = msgspec.json.Encoder().encode


class _Call:
    __slots__ = ("arguments", "call_id", "chat_index", "index", "item_id", "name")

    def __init__(self, chat_index: int, index: int, call_id: str, name: str) -> None:
        self.chat_index = chat_index
        self.index = index
        self.call_id = call_id
        self.name = name
        self.item_id = function_item_id(call_id, chat_index)
        self.arguments: list[str] = []


class ChatToResponsesStream:
    """State of one stream's translation; ``done`` once the terminal event was emitted,
    ``failure`` when the upstream sent an error chunk (emitted as an ``error`` event)."""

    __slots__ = (
        "_call",
        "_created",
        "_finish",
        "_id",
        "_model",
        "_output",
        "_seq",
        "_text",
        "_text_head",
        "_text_index",
        "_usage",
        "done",
        "failure",
        "started",
    )

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = ""
        self._created = 0
        self._seq = 0
        self._output: list[dict[str, Any]] = []  # the closed items, by output index
        self._text: list[str] | None = None  # the open message item's text
        self._text_index = 0
        # The open message item's delta event up to its text (the hot path: one a token).
        self._text_head = b""
        self._call: _Call | None = None  # the open function call item
        self._finish: str | None = None
        self._usage: ChatUsage | None = None
        self.started = False
        self.done = False
        self.failure: GatewayError | None = None

    @property
    def usage(self) -> Usage | None:
        return self._usage.gateway_usage() if self._usage is not None else None

    def _event(self, name: str, payload: dict[str, Any]) -> bytes:
        payload["sequence_number"] = self._seq
        self._seq += 1
        return b"event: " + name.encode() + b"\ndata: " + _encode(payload) + b"\n\n"

    def feed(self, data: bytes) -> bytes:
        if data == b"[DONE]":
            return self.finish()
        chunk = _decode_chunk(data)
        out = b"" if self.started else self._start(chunk.id, chunk.created)
        if chunk.error is not None:
            code = chunk.error.code
            self.failure = GatewayError(
                502, chunk.error.message, code="upstream_error" if code is None else str(code)
            )
            return out + self._error(self.failure)
        if chunk.usage is not None:
            self._usage = chunk.usage
        for choice in chunk.choices[:1]:
            delta = choice.delta
            text = delta.content or delta.refusal
            if text:
                out += self._delta(text)
            for call in delta.tool_calls or ():
                out += self._tool(call)
            if choice.finish_reason is not None:
                self._finish = choice.finish_reason
        return out

    def _error(self, err: GatewayError) -> bytes:
        payload = {"type": "error", "code": err.code, "message": err.message, "param": None}
        return self._event("error", payload)

    def _response(self, *, final: bool) -> dict[str, Any]:
        return response_object(
            self._id,
            self._created,
            self._model,
            list(self._output) if final else [],
            finish=self._finish,
            usage=self._usage,
            in_progress=not final,
        )

    def _start(self, chat_id: str, created: int) -> bytes:
        self.started = True
        self._id = response_id(chat_id)
        self._created = created
        head = self._response(final=False)
        out = self._event("response.created", {"type": "response.created", "response": head})
        kind = "response.in_progress"
        return out + self._event(kind, {"type": kind, "response": head})

    def _close(self) -> bytes:
        if self._text is not None:
            return self._close_text()
        if self._call is not None:
            return self._close_call()
        return b""

    def _close_text(self) -> bytes:
        text = "".join(self._text or ())
        self._text = None
        index = self._text_index
        item_id = message_item_id(self._id, index)
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        out = self._event(
            "response.output_text.done",
            {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        )
        out += self._event(
            "response.content_part.done",
            {"type": "response.content_part.done", **where, "part": text_part(text)},
        )
        item = message_item(item_id, text)
        self._output.append(item)
        kind = "response.output_item.done"
        return out + self._event(kind, {"type": kind, "output_index": index, "item": item})

    def _close_call(self) -> bytes:
        call = self._call
        assert call is not None
        self._call = None
        arguments = "".join(call.arguments)
        kind = "response.function_call_arguments.done"
        out = self._event(
            kind,
            {
                "type": kind,
                "item_id": call.item_id,
                "output_index": call.index,
                "name": call.name,
                "arguments": arguments,
            },
        )
        item = function_item(call.item_id, call.call_id, call.name, arguments)
        self._output.append(item)
        kind = "response.output_item.done"
        return out + self._event(kind, {"type": kind, "output_index": call.index, "item": item})

    def _delta(self, text: str) -> bytes:
        out = b""
        if self._text is None:
            out = self._close()
            index = len(self._output)
            item_id = message_item_id(self._id, index)
            self._text = []
            self._text_index = index
            kind = "response.output_item.added"
            out += self._event(
                kind, {"type": kind, "output_index": index, "item": message_item(item_id, None)}
            )
            kind = "response.content_part.added"
            out += self._event(
                kind,
                {
                    "type": kind,
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "part": text_part(""),
                },
            )
            self._text_head = (
                b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
                b'"item_id":' + _encode(item_id) + b',"output_index":' + str(index).encode()
                + b',"content_index":0,"delta":'
            )  # fmt: skip
        self._text.append(text)
        seq = self._seq
        self._seq += 1
        tail = b',"logprobs":[],"sequence_number":' + str(seq).encode() + b"}\n\n"
        return out + self._text_head + _encode(text) + tail

    def _tool(self, call: ToolCall) -> bytes:
        out = b""
        fn = call.function
        current = self._call
        # A new call: another index, or (from a translator that numbers calls loosely) another id.
        if (
            current is None
            or call.index != current.chat_index
            or (call.id and call.id != current.call_id)
        ):
            out = self._close()
            index = len(self._output)
            call_id = call.id or ""
            name = (fn.name if fn else None) or ""
            current = self._call = _Call(call.index, index, call_id, name)
            item = function_item(current.item_id, call_id, name, "", status="in_progress")
            kind = "response.output_item.added"
            out += self._event(kind, {"type": kind, "output_index": index, "item": item})
        arguments = fn.arguments if fn else None
        if arguments:
            current.arguments.append(arguments)
            kind = "response.function_call_arguments.delta"
            payload = {
                "type": kind,
                "item_id": current.item_id,
                "output_index": current.index,
                "delta": arguments,
            }
            out += self._event(kind, payload)
        return out

    def finish(self) -> bytes:
        """The closing events (once): the open item's, then ``response.completed`` (or
        ``response.incomplete`` when the reply was cut short)."""
        if self.done:
            return b""
        self.done = True
        out = b"" if self.started else self._start("", 0)
        out += self._close()
        kind = "response.incomplete" if self._finish in INCOMPLETE else "response.completed"
        return out + self._event(kind, {"type": kind, "response": self._response(final=True)})
