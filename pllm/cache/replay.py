"""An answer in the shape the client asked for: a cached reply replayed as an SSE stream,
and a completed stream assembled into the reply a plain request gets.

Both directions work on OpenAI's formats: chat completions (``chat.completion`` ↔
``chat.completion.chunk``) and legacy completions (``text_completion`` both ways);
embeddings never stream.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.usage import Usage

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
DONE = b"data: [DONE]\n\n"


def _frame(data: dict[str, Any]) -> bytes:
    return b"data: " + _encode(data) + b"\n\n"


def as_stream(endpoint: str, body: bytes, include_usage: bool) -> bytes:
    """The SSE stream (ending with ``[DONE]``) that carries the same answer as ``body``."""
    reply = _decode(body)
    head = {k: reply[k] for k in ("id", "created", "model", "system_fingerprint") if k in reply}
    chat = endpoint == "chat/completions"
    head["object"] = "chat.completion.chunk" if chat else "text_completion"
    out: list[bytes] = []
    for choice in reply.get("choices") or ():
        index = choice.get("index", 0)
        if chat:
            message = choice.get("message") or {}
            delta: dict[str, Any] = {"role": message.get("role", "assistant")}
            for name in ("content", "refusal", "reasoning_content"):
                if message.get(name) is not None:
                    delta[name] = message[name]
            if message.get("tool_calls"):
                delta["tool_calls"] = [
                    {"index": i, **call} for i, call in enumerate(message["tool_calls"])
                ]
            first: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": None}
            if choice.get("logprobs") is not None:
                first["logprobs"] = choice["logprobs"]
            last = {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
        else:
            first = {
                "index": index,
                "text": choice.get("text", ""),
                "logprobs": choice.get("logprobs"),
                "finish_reason": None,
            }
            last = {
                "index": index,
                "text": "",
                "logprobs": None,
                "finish_reason": choice.get("finish_reason"),
            }
        out.append(_frame({**head, "choices": [first]}))
        out.append(_frame({**head, "choices": [last]}))
    if include_usage and reply.get("usage") is not None:
        out.append(_frame({**head, "choices": [], "usage": reply["usage"]}))
    out.append(DONE)
    return b"".join(out)


class StreamCollector:
    """Reads the frames relayed to the client and assembles the reply they carry; a stream
    that carried an error, or did not end with ``[DONE]``, assembles to nothing."""

    __slots__ = ("_buffer", "_chat", "_choices", "_done", "_failed", "_head", "_usage")

    def __init__(self, endpoint: str) -> None:
        self._chat = endpoint == "chat/completions"
        self._buffer = b""
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: Any = None
        self._done = False
        self._failed = False

    def feed(self, data: bytes) -> None:
        if self._failed:
            return
        self._buffer += data
        *events, self._buffer = self._buffer.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip())

    def _data(self, data: bytes) -> None:
        if data == b"[DONE]":
            self._done = True
            return
        try:
            chunk = _decode(data)
        except msgspec.DecodeError:
            self._failed = True
            return
        if not isinstance(chunk, dict) or "error" in chunk:
            self._failed = True
            return
        for k in ("id", "created", "model", "system_fingerprint"):
            if k in chunk and k not in self._head:
                self._head[k] = chunk[k]
        if chunk.get("usage") is not None:
            self._usage = chunk["usage"]
        for part in chunk.get("choices") or ():
            self._choice(part)

    def _choice(self, part: dict[str, Any]) -> None:
        index = part.get("index", 0)
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = {"index": index, "finish_reason": None}
            if not self._chat:
                choice["logprobs"] = None
        if part.get("finish_reason") is not None:
            choice["finish_reason"] = part["finish_reason"]
        logprobs = part.get("logprobs")
        if isinstance(logprobs, dict):
            held = choice["logprobs"] = choice.get("logprobs") or {}
            for name, items in logprobs.items():
                if isinstance(items, list):
                    held.setdefault(name, []).extend(items)
        if not self._chat:
            choice["text"] = choice.get("text", "") + (part.get("text") or "")
            return
        message = choice.setdefault("message", {"role": "assistant", "content": None})
        delta = part.get("delta") or {}
        if delta.get("role"):
            message["role"] = delta["role"]
        for name in ("content", "refusal", "reasoning_content"):
            if delta.get(name):
                message[name] = (message.get(name) or "") + delta[name]
        for call in delta.get("tool_calls") or ():
            calls: list[dict[str, Any]] = message.setdefault("tool_calls", [])
            at = call.get("index", len(calls))
            while len(calls) <= at:
                calls.append(
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
            held = calls[at]
            if call.get("id"):
                held["id"] = call["id"]
            if call.get("type"):
                held["type"] = call["type"]
            function = call.get("function") or {}
            if function.get("name"):
                held["function"]["name"] += function["name"]
            if function.get("arguments"):
                held["function"]["arguments"] += function["arguments"]

    def reply(self, usage: Usage | None) -> bytes | None:
        """The assembled reply (``usage``: the call's, when the client did not ask for the
        usage chunk), or None when the stream did not complete normally."""
        if self._failed or not self._done or not self._choices or not self._head:
            return None
        obj = "chat.completion" if self._chat else "text_completion"
        reply: dict[str, Any] = {**self._head, "object": obj}
        reply["choices"] = [self._choices[i] for i in sorted(self._choices)]
        found = self._usage
        if found is None and usage is not None:
            found = msgspec.to_builtins(usage)
        if found is not None:
            reply["usage"] = found
        return _encode(reply)
