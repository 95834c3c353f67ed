"""OpenAI ``chat.completion.chunk`` stream -> Anthropic Messages stream.

Fed the ``data:`` payload of each OpenAI event (``[DONE]`` included), it returns the
Anthropic events (``event:`` and ``data:`` lines) to send. Content blocks open and close as
the chunks switch between text and tool calls; ``message_delta`` (stop reason, usage) and
``message_stop`` come at the end, since OpenAI reports usage after the finish reason.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.errors import GatewayError
from pllm.providers.anthropic.errors import anthropic_error_body
from pllm.providers.anthropic.response_to_anthropic import (
    OpenAIMessage,
    ToolCall,
    ToolFunction,
    message_id,
    stop_reason,
)
from pllm.providers.anthropic.usage import OpenAIUsage
from pllm.usage import Usage


class _Choice(msgspec.Struct):
    delta: OpenAIMessage = msgspec.field(default_factory=OpenAIMessage)
    finish_reason: str | None = None


class _ErrorObject(msgspec.Struct):
    message: str = "The upstream stream failed."


class _Chunk(msgspec.Struct):
    id: str = ""
    choices: list[_Choice] = []
    usage: OpenAIUsage | None = None
    error: _ErrorObject | None = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode
_encode = msgspec.json.Encoder().encode


def event(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


class OpenAIToAnthropicStream:
    """State of one stream's translation; ``done`` once ``message_stop`` was emitted,
    ``failure`` when the upstream sent an error chunk (emitted as an ``error`` event)."""

    __slots__ = (
        "_finish",
        "_model",
        "_next_index",
        "_open",
        "_text_head",
        "_tools",
        "_usage",
        "done",
        "failure",
        "started",
    )

    def __init__(self, model: str) -> None:
        self._model = model
        self._next_index = 0
        self._open: int | None = None  # index of the open content block
        self._text_head = b""  # set while the open block is a text block
        self._tools: dict[int, int] = {}  # OpenAI tool call index -> block index
        self._finish: str | None = None
        self._usage: OpenAIUsage | None = None
        self.started = False
        self.done = False
        self.failure: GatewayError | None = None

    @property
    def usage(self) -> Usage | None:
        return self._usage.gateway_usage() if self._usage is not None else None

    def feed(self, data: bytes) -> bytes:
        if data == b"[DONE]":
            return self.finish()
        chunk = _decode_chunk(data)
        out = b"" if self.started else self._start(chunk.id)
        if chunk.error is not None:
            self.failure = GatewayError(502, chunk.error.message, code="upstream_error")
            return out + b"event: error\ndata: " + anthropic_error_body(self.failure) + b"\n\n"
        if chunk.usage is not None:
            self._usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                out += self._text(delta.content)
            for call in delta.tool_calls or ():
                out += self._tool(call)
            if choice.finish_reason is not None:
                self._finish = choice.finish_reason
        return out

    def _start(self, openai_id: str) -> bytes:
        self.started = True
        message: dict[str, Any] = {
            "id": message_id(openai_id),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open, self._text_head = self._open, None, b""
        return event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _open_block(self, block: dict[str, Any]) -> tuple[int, bytes]:
        out = self._close()
        index = self._next_index
        self._next_index += 1
        self._open = index
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return index, out + event("content_block_start", start)

    def _text(self, text: str) -> bytes:
        out = b""
        if not self._text_head:
            index, out = self._open_block({"type": "text", "text": ""})
            self._text_head = (
                b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
                + str(index).encode()
                + b',"delta":{"type":"text_delta","text":'
            )
        return out + self._text_head + _encode(text) + b"}}\n\n"

    def _tool(self, call: ToolCall) -> bytes:
        out = b""
        fn = call.function or ToolFunction()
        index = self._tools.get(call.index)
        if index is None:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.id,
                "name": fn.name,
                "input": {},
            }
            index, out = self._open_block(block)
            self._tools[call.index] = index
        if fn.arguments:
            delta = {"type": "input_json_delta", "partial_json": fn.arguments}
            payload = {"type": "content_block_delta", "index": index, "delta": delta}
            out += event("content_block_delta", payload)
        return out

    def finish(self) -> bytes:
        """The closing events (once): last ``content_block_stop``, ``message_delta``,
        ``message_stop``."""
        if self.done:
            return b""
        self.done = True
        out = b"" if self.started else self._start("")
        out += self._close()
        usage = (self._usage or OpenAIUsage()).anthropic_usage()
        delta = {"stop_reason": stop_reason(self._finish), "stop_sequence": None}
        out += event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + event("message_stop", {"type": "message_stop"})
