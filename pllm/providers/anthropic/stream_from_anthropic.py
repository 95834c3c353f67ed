"""Anthropic Messages stream -> OpenAI ``chat.completion.chunk`` stream.

Fed one parsed SSE event at a time (the framing is parsed in Rust, by ``pllm_accel``), it
returns the OpenAI frames that event becomes, ready to send. The common chunk prefix is
encoded once per stream, so a text delta costs one small JSON string encode.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from pllm.errors import GatewayError
from pllm.providers.anthropic.errors import openai_error_from_anthropic
from pllm.providers.anthropic.response_from_anthropic import AnthropicMessage, Block, finish_reason
from pllm.providers.anthropic.usage import AnthropicUsage
from pllm.usage import Usage

DONE = b"data: [DONE]\n\n"


class _Delta(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    stop_reason: str | None = None


class _Error(msgspec.Struct):
    type: str = "api_error"
    message: str = ""


class _Event(msgspec.Struct):
    type: str
    index: int = 0
    message: AnthropicMessage | None = None
    content_block: Block | None = None
    delta: _Delta | None = None
    usage: AnthropicUsage | None = None
    error: _Error | None = None


_decode_event = msgspec.json.Decoder(_Event).decode
_encode = msgspec.json.Encoder().encode


class AnthropicToOpenAIStream:
    """State of one stream's translation. After the events: ``done`` (``message_stop``
    seen, ``[DONE]`` emitted), ``failure`` (an ``error`` event, already emitted as an
    OpenAI error frame) and ``usage`` (what the gateway records)."""

    __slots__ = (
        "_head",
        "_include_usage",
        "_model",
        "_tools",
        "_usage",
        "created",
        "done",
        "failure",
        "id",
    )

    def __init__(self, *, include_usage: bool, created: int | None = None) -> None:
        self._include_usage = include_usage
        self.created = int(time.time()) if created is None else created
        self.id = ""
        self._model = ""
        self._head = b""
        self._tools: dict[int, int] = {}
        self._usage = AnthropicUsage()
        self.done = False
        self.failure: GatewayError | None = None

    @property
    def usage(self) -> Usage:
        return self._usage.gateway_usage()

    def _chunk(self, delta: bytes, finish: str | None = None) -> bytes:
        reason = b"null" if finish is None else b'"' + finish.encode() + b'"'
        return (
            self._head
            + b'"choices":[{"index":0,"delta":'
            + delta
            + b',"logprobs":null,"finish_reason":'
            + reason
            + b"}]}\n\n"
        )

    def feed(self, event: str | None, data: bytes) -> bytes:
        """The frames for one Anthropic event (often ``b""``)."""
        ev = _decode_event(data)
        kind = ev.type
        if kind == "content_block_delta" and ev.delta is not None:
            d = ev.delta
            if d.type == "text_delta" and d.text:
                return self._chunk(b'{"content":' + _encode(d.text) + b"}")
            if d.type == "input_json_delta" and d.partial_json:
                i = self._tools.get(ev.index, 0)
                args = _encode([{"index": i, "function": {"arguments": d.partial_json}}])
                return self._chunk(b'{"tool_calls":' + args + b"}")
            if d.type == "thinking_delta" and d.thinking:
                return self._chunk(b'{"reasoning_content":' + _encode(d.thinking) + b"}")
            return b""
        if kind == "message_start" and ev.message is not None:
            return self._start(ev.message)
        if kind == "content_block_start" and ev.content_block is not None:
            return self._block_start(ev.index, ev.content_block)
        if kind == "message_delta":
            if ev.usage is not None:
                self._usage.merge(ev.usage)
            reason = finish_reason(ev.delta.stop_reason if ev.delta else None)
            return self._chunk(b"{}", reason or "stop")
        if kind == "message_stop":
            self.done = True
            if not self._include_usage:
                return DONE
            usage = _encode(self._usage.openai_usage())
            return self._head + b'"choices":[],"usage":' + usage + b"}\n\n" + DONE
        if kind == "error":
            err = ev.error or _Error()
            self.failure = openai_error_from_anthropic(200, err.type, err.message)
            return b"data: " + self.failure.body() + b"\n\n"
        return b""  # ping, content_block_stop, events added to the API later

    def _start(self, message: AnthropicMessage) -> bytes:
        self.id = message.id
        self._model = message.model
        self._usage.merge(message.usage)
        self._head = (
            b'data: {"id":'
            + _encode(self.id)
            + b',"object":"chat.completion.chunk","created":'
            + str(self.created).encode()
            + b',"model":'
            + _encode(self._model)
            + b","
        )
        return self._chunk(b'{"role":"assistant","content":""}')

    def _block_start(self, index: int, block: Block) -> bytes:
        if block.type == "tool_use":
            i = len(self._tools)
            self._tools[index] = i
            call: dict[str, Any] = {
                "index": i,
                "id": block.id,
                "type": "function",
                "function": {"name": block.name, "arguments": ""},
            }
            return self._chunk(b'{"tool_calls":' + _encode([call]) + b"}")
        if block.type == "text" and block.text:
            return self._chunk(b'{"content":' + _encode(block.text) + b"}")
        return b""
