"""Bedrock ``ConverseStream`` -> OpenAI ``chat.completion.chunk`` stream.

Fed one event at a time: its name (the frame's ``:event-type``) and its JSON payload, the
binary framing decoded and checksummed in Rust by the native client's ``eventstream``
relay. ``messageStart`` opens the assistant's turn; each ``contentBlockDelta`` is a delta
(text, a tool call's input JSON, reasoning); ``contentBlockStart`` of a ``toolUse`` opens a
tool call; ``messageStop`` is the choice's last chunk, and ``metadata`` (the usage, always
after it) ends the stream: the usage chunk (when asked for) and ``[DONE]``. An exception
(``exception:<type>``, e.g. ``exception:throttlingException``) is one terminal OpenAI error
frame. The chunk prefix is encoded once per stream.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from pllm.errors import GatewayError
from pllm.providers.bedrock.errors import bedrock_error
from pllm.providers.bedrock.response_from_bedrock import new_id, thinking_block
from pllm.providers.bedrock.wire import BedrockUsage, decode_event, finish_reason
from pllm.usage import Usage

DONE = b"data: [DONE]\n\n"
_OPEN_TAIL = b',"logprobs":null,"finish_reason":null}]}\n\n'

_encode = msgspec.json.Encoder().encode


class BedrockToOpenAIStream:
    """State of one stream's translation. After the events: ``done`` (``metadata`` seen after
    ``messageStop``, ``[DONE]`` emitted), ``failure`` (an exception, already emitted as an
    OpenAI error frame) and ``usage`` (what the gateway records)."""

    __slots__ = (
        "_head",
        "_include_usage",
        "_prefix",
        "_started",
        "_stopped",
        "_tools",
        "_usage",
        "done",
        "failure",
    )

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool,
        created: int | None = None,
        response_id: str | None = None,
    ) -> None:
        self._include_usage = include_usage
        created = int(time.time()) if created is None else created
        self._head = (
            b'data: {"id":'
            + _encode(new_id() if response_id is None else response_id)
            + b',"object":"chat.completion.chunk","created":'
            + str(created).encode()
            + b',"model":'
            + _encode(model)
            + b","
        )
        self._prefix = self._head + b'"choices":[{"index":0,"delta":'
        self._started = False
        self._stopped = False
        # contentBlockIndex -> the OpenAI index of the tool call it holds.
        self._tools: dict[int, int] = {}
        self._usage: BedrockUsage | None = None
        self.done = False
        self.failure: GatewayError | None = None

    @property
    def usage(self) -> Usage | None:
        return self._usage.gateway_usage() if self._usage is not None else None

    def _chunk(self, delta: bytes) -> bytes:
        return self._prefix + delta + _OPEN_TAIL

    def _open(self) -> bytes:
        """The role chunk, once, before anything else of the turn."""
        if self._started:
            return b""
        self._started = True
        return self._chunk(b'{"role":"assistant","content":""}')

    def feed(self, event: str | None, data: bytes) -> bytes:
        """The frames for one ConverseStream event (may be ``b""``)."""
        if self.done or self.failure is not None:
            return b""
        if event == "contentBlockDelta":
            return self._delta(data)
        if event == "contentBlockStart":
            return self._block_start(data)
        if event == "messageStart":
            return self._open()
        if event == "messageStop":
            ev = decode_event(data)
            self._stopped = True
            reason = finish_reason(ev.stop_reason)
            last = (
                self._open()
                + self._prefix
                + b'{},"logprobs":null,"finish_reason":"'
                + reason.encode()
                + b'"}]}\n\n'
            )
            return last + self._end() if self._usage is not None else last
        if event == "metadata":
            ev = decode_event(data)
            self._usage = ev.usage or self._usage or BedrockUsage()
            return self._end() if self._stopped else b""
        if event is not None and event.startswith(("exception:", "error:")):
            kind = event.partition(":")[2]
            message = decode_event(data).message or f"upstream stream failed ({kind})"
            self.failure = bedrock_error(kind, message)
            return b"data: " + self.failure.body() + b"\n\n"
        return b""  # contentBlockStop, and events added to the API later

    def _end(self) -> bytes:
        """The usage chunk (when asked for) and ``[DONE]``, once the stop and the usage are in."""
        self.done = True
        if not self._include_usage:
            return DONE
        usage = _encode((self._usage or BedrockUsage()).openai_usage())
        return self._head + b'"choices":[],"usage":' + usage + b"}\n\n" + DONE

    def _delta(self, data: bytes) -> bytes:
        ev = decode_event(data)
        d = ev.delta
        if d is None:
            return b""
        out = self._open()
        if d.text:
            return out + self._chunk(b'{"content":' + _encode(d.text) + b"}")
        if d.tool_use is not None and d.tool_use.input:
            i = self._tools.get(ev.content_block_index, 0)
            args = _encode([{"index": i, "function": {"arguments": d.tool_use.input}}])
            return out + self._chunk(b'{"tool_calls":' + args + b"}")
        r = d.reasoning_content
        if r is not None:
            if r.text:
                return out + self._chunk(b'{"reasoning_content":' + _encode(r.text) + b"}")
            if r.signature:
                block = [thinking_block("", r.signature)]
                return out + self._chunk(b'{"thinking_blocks":' + _encode(block) + b"}")
        return out

    def _block_start(self, data: bytes) -> bytes:
        ev = decode_event(data)
        use = ev.start.tool_use if ev.start is not None else None
        if use is None:
            return b""
        i = len(self._tools)
        self._tools[ev.content_block_index] = i
        call: dict[str, Any] = {
            "index": i,
            "id": use.tool_use_id,
            "type": "function",
            "function": {"name": use.name, "arguments": ""},
        }
        return self._open() + self._chunk(b'{"tool_calls":' + _encode([call]) + b"}")
