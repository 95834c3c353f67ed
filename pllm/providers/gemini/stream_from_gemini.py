"""Gemini stream (``streamGenerateContent?alt=sse``) -> OpenAI ``chat.completion.chunk`` stream.

Fed one parsed SSE event at a time (framing parsed in Rust by ``pllm_accel``). Every event is a
whole ``GenerateContentResponse`` holding the next piece of each candidate: its parts become
deltas, a ``finishReason`` the choice's last chunk. Gemini's stream has no end marker but the
end of the body: once every candidate has finished, the usage chunk (when asked for) and
``[DONE]`` are sent; later events (a usage-only one) are read for the usage alone. How many
candidates there are to finish is what the request asked for (``candidateCount``): Gemini may
send one candidate's whole answer before the next one starts.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from pllm.errors import GatewayError
from pllm.providers.gemini.errors import google_error
from pllm.providers.gemini.response_from_gemini import new_id_prefix
from pllm.providers.gemini.wire import (
    Candidate,
    GeminiUsage,
    decode_response,
    finish_reason,
    tool_call_id,
)
from pllm.usage import Usage

DONE = b"data: [DONE]\n\n"
_ROLE = b'{"role":"assistant","content":""}'
_OPEN_TAIL = b',"logprobs":null,"finish_reason":null}]}\n\n'

_encode = msgspec.json.Encoder().encode


class GeminiToOpenAIStream:
    """State of one stream's translation. After the events: ``done`` (every candidate
    finished, ``[DONE]`` emitted), ``failure`` (an error event, already emitted as an OpenAI
    error frame) and ``usage`` (what the gateway records)."""

    __slots__ = (
        "_called",
        "_candidates",
        "_finished",
        "_head",
        "_id_prefix",
        "_include_usage",
        "_model",
        "_prefixes",
        "_tools",
        "_usage",
        "created",
        "done",
        "failure",
    )

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool,
        candidates: int = 1,
        created: int | None = None,
        id_prefix: str | None = None,
    ) -> None:
        self._model = model
        self._candidates = candidates
        self._include_usage = include_usage
        self.created = int(time.time()) if created is None else created
        self._id_prefix = new_id_prefix() if id_prefix is None else id_prefix
        self._head = b""
        # Per candidate index: the chunk's bytes up to its delta, encoded once.
        self._prefixes: dict[int, bytes] = {}
        # Per candidate index: tool calls so far; the started ones are the keys.
        self._tools: dict[int, int] = {}
        self._called: set[int] = set()
        self._finished: set[int] = set()
        self._usage: GeminiUsage | None = None
        self.done = False
        self.failure: GatewayError | None = None

    @property
    def usage(self) -> Usage | None:
        return self._usage.gateway_usage() if self._usage is not None else None

    def _chunk(self, index: int, delta: bytes, finish: str | None = None) -> bytes:
        prefix = self._prefixes.get(index)
        if prefix is None:
            prefix = self._head + b'"choices":[{"index":' + str(index).encode() + b',"delta":'
            self._prefixes[index] = prefix
        if finish is None:
            return prefix + delta + _OPEN_TAIL
        return (
            prefix + delta + b',"logprobs":null,"finish_reason":"' + finish.encode() + b'"}]}\n\n'
        )

    def _start(self, response_id: str | None, model_version: str | None) -> None:
        self._head = (
            b'data: {"id":'
            + _encode(f"chatcmpl-{response_id or self._id_prefix}")
            + b',"object":"chat.completion.chunk","created":'
            + str(self.created).encode()
            + b',"model":'
            + _encode(model_version or self._model)
            + b","
        )

    def feed(self, data: bytes) -> bytes:
        """The frames for one Gemini event (may be ``b""``)."""
        ev = decode_response(data)
        if ev.error is not None:
            err = ev.error
            self.failure = google_error(err.code or 0, err.message or "upstream error", err.status)
            return b"data: " + self.failure.body() + b"\n\n"
        if ev.usage_metadata is not None:
            self._usage = ev.usage_metadata
        if self.done:
            return b""
        if not self._head:
            self._start(ev.response_id, ev.model_version)
        out: list[bytes] = []
        for position, candidate in enumerate(ev.candidates):
            index = position if candidate.index is None else candidate.index
            self._candidate(index, candidate, out)
        if not ev.candidates and ev.prompt_feedback is not None and ev.prompt_feedback.block_reason:
            if 0 not in self._tools:
                self._tools[0] = 0
                out.append(self._chunk(0, _ROLE))
            self._finished.update(range(self._candidates))
            out.append(self._chunk(0, b"{}", "content_filter"))
        finished = self._finished
        if len(finished) >= self._candidates and finished.issuperset(self._tools):
            self.done = True
            if self._include_usage:
                usage = _encode((self._usage or GeminiUsage()).openai_usage())
                out.append(self._head + b'"choices":[],"usage":' + usage + b"}\n\n")
            out.append(DONE)
        return b"".join(out)

    def _candidate(self, index: int, candidate: Candidate, out: list[bytes]) -> None:
        if index not in self._tools:
            self._tools[index] = 0
            out.append(self._chunk(index, _ROLE))
        if index in self._finished:
            return
        parts = candidate.content.parts if candidate.content is not None else ()
        for part in parts:
            if part.text:
                key = b'{"reasoning_content":' if part.thought else b'{"content":'
                out.append(self._chunk(index, key + _encode(part.text) + b"}"))
            elif part.function_call is not None:
                fc = part.function_call
                n = self._tools[index]
                self._tools[index] = n + 1
                self._called.add(index)
                base = fc.id or f"call_{self._id_prefix}_{index}_{n}"
                call: dict[str, Any] = {
                    "index": n,
                    "id": tool_call_id(base, part.thought_signature),
                    "type": "function",
                    "function": {"name": fc.name, "arguments": bytes(fc.args).decode()},
                }
                out.append(self._chunk(index, b'{"tool_calls":' + _encode([call]) + b"}"))
            elif part.inline_data is not None:
                blob = part.inline_data
                image = {
                    "type": "image_url",
                    "image_url": {"url": f"data:{blob.mime_type};base64,{blob.data}"},
                }
                out.append(self._chunk(index, b'{"images":' + _encode([image]) + b"}"))
        if candidate.finish_reason:
            self._finished.add(index)
            reason = finish_reason(candidate.finish_reason, index in self._called)
            out.append(self._chunk(index, b"{}", reason))
