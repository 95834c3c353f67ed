"""The ``mock`` provider: deterministic replies in process, at a configurable pace.

Used by the default config (a gateway that works with no API key), by tests and by benches.
``mock_latency_ms`` delays a non-streaming reply; a stream waits ``mock_ttft_ms`` for its first
token and then emits ``mock_tokens_per_second``. Token counts are words.

It is an OpenAI-format upstream answered in process: the OpenAI codec's steps with a target
whose answers are made here instead of fetched, and whose streams are polled like the native
client's (frames fall due on a schedule, so no task runs per stream).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
from collections.abc import Awaitable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import msgspec

from pllm.config import DeploymentConfig, MockParams
from pllm.config.problems import Problems
from pllm.providers.codec import Answer, Endpoint, Outgoing, SseEventLike
from pllm.providers.openai.codec import OpenAIFormat
from pllm.usage import Usage

_VOCABULARY = [
    "This",
    "is",
    "a",
    "mock",
    "response",
    "from",
    "pllm,",
    "the",
    "fast",
    "OpenAI-compatible",
    "gateway.",
    "It",
    "streams",
    "deterministic",
    "words",
    "at",
    "a",
    "configurable",
    "pace",
    "so",
    "that",
    "clients,",
    "tests",
    "and",
    "benchmarks",
    "see",
    "realistic",
    "replies",
    "without",
    "any",
    "upstream",
    "provider",
    "or",
    "API",
    "key.",
]

_encode = msgspec.json.Encoder().encode


def estimate_tokens(value: Any) -> int:
    """A provider-independent estimate (about four bytes a token) for mock usage."""
    if value is None:
        return 0
    raw = value.encode() if isinstance(value, str) else _encode(value)
    return max(1, len(raw) // 4)


class MockBackend:
    """The mock's target: its replies, made in process."""

    def answer(self, out: Outgoing, request_id: str) -> Awaitable[Answer]:
        return _answer(self, out, request_id)

    def __init__(self, params: MockParams, model: str) -> None:
        self.params = params
        self.model = model
        if params.response is not None:
            words = params.response.split(" ")
        else:
            n = params.reply_tokens
            words = [_VOCABULARY[i % len(_VOCABULARY)] for i in range(n)]
        self.tokens = [w if i == 0 else f" {w}" for i, w in enumerate(words)]
        self.text = "".join(self.tokens)

    def usage(self, payload: dict[str, Any], *, chat: bool) -> dict[str, int]:
        return self._usage(estimate_tokens(payload.get("messages" if chat else "prompt")))

    def _usage(self, prompt_tokens: int) -> dict[str, int]:
        n = len(self.tokens)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": n,
            "total_tokens": prompt_tokens + n,
        }

    async def _pause_whole_reply(self) -> None:
        p = self.params
        delay = p.latency_ms / 1000
        if not delay and p.tokens_per_second:
            delay = p.ttft_ms / 1000 + len(self.tokens) / p.tokens_per_second
        if delay:
            await asyncio.sleep(delay)

    async def chat(self, payload: dict[str, Any], request_id: str) -> bytes:
        message = {"role": "assistant", "content": self.text}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        return await self._reply(f"chatcmpl-{request_id}", "chat.completion", choice, payload)

    async def completion(self, payload: dict[str, Any], request_id: str) -> bytes:
        choice = {"index": 0, "text": self.text, "logprobs": None, "finish_reason": "stop"}
        return await self._reply(f"cmpl-{request_id}", "text_completion", choice, payload)

    async def _reply(
        self, reply_id: str, obj: str, choice: dict[str, Any], payload: dict[str, Any]
    ) -> bytes:
        await self._pause_whole_reply()
        prompt = payload.get("messages" if obj == "chat.completion" else "prompt")
        return _encode(
            {
                "id": reply_id,
                "object": obj,
                "created": int(time.time()),
                "model": self.model,
                "choices": [choice],
                "usage": self._usage(estimate_tokens(prompt)),
            }
        )

    def stream_frames(
        self, payload: dict[str, Any], request_id: str, *, chat: bool, include_usage: bool
    ) -> list[tuple[float, bytes]]:
        """The SSE frames of an OpenAI stream, ``data: [DONE]`` last, each with the delay after
        the start at which it is due (``mock_ttft_ms``, then one token per
        ``1 / mock_tokens_per_second``)."""
        created = int(time.time())
        p = self.params
        obj = "chat.completion.chunk" if chat else "text_completion"
        cid = f"chatcmpl-{request_id}" if chat else f"cmpl-{request_id}"
        extra: dict[str, Any] = {"usage": None} if include_usage else {}

        def frame(choice: dict[str, Any]) -> bytes:
            body = {"id": cid, "object": obj, "created": created, "model": self.model}
            body["choices"] = [choice]
            body.update(extra)
            return b"data: " + _encode(body) + b"\n\n"

        at = p.ttft_ms / 1000
        gap = 1 / p.tokens_per_second if p.tokens_per_second else 0.0
        frames: list[tuple[float, bytes]] = []
        if chat:
            role = {"index": 0, "delta": {"role": "assistant", "content": ""}}
            frames.append((at, frame({**role, "finish_reason": None})))
        for i, token in enumerate(self.tokens):
            due = at + i * gap
            if chat:
                frames.append(
                    (due, frame({"index": 0, "delta": {"content": token}, "finish_reason": None}))
                )
            else:
                choice = {"index": 0, "text": token, "logprobs": None, "finish_reason": None}
                frames.append((due, frame(choice)))
        end = at + max(0, len(self.tokens) - 1) * gap
        last: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            last["delta"] = {}
        else:
            last.update(text="", logprobs=None)
        frames.append((end, frame(last)))
        if include_usage:
            usage = self.usage(payload, chat=chat)
            body = {"id": cid, "object": obj, "created": created, "model": self.model}
            frames.append(
                (end, b"data: " + _encode({**body, "choices": [], "usage": usage}) + b"\n\n")
            )
        frames.append((end, b"data: [DONE]\n\n"))
        return frames

    async def embeddings(self, payload: dict[str, Any]) -> bytes:
        if self.params.latency_ms:
            await asyncio.sleep(self.params.latency_ms / 1000)
        inputs = payload["input"]
        items = [inputs] if isinstance(inputs, str) or _is_token_list(inputs) else inputs
        as_base64 = payload.get("encoding_format") == "base64"
        data = []
        for i, item in enumerate(items):
            vector = self._vector(item)
            embedding: Any = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = sum(estimate_tokens(item) for item in items)
        return _encode(
            {
                "object": "list",
                "data": data,
                "model": self.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _vector(self, item: Any) -> list[float]:
        digest = hashlib.blake2b(_encode(item), digest_size=64).digest()
        dim = self.params.embedding_dim
        return [(digest[i % 64] - 127.5) / 127.5 for i in range(dim)]


def _is_token_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, int) for v in value)


class MockCodec(OpenAIFormat):
    name = "mock"
    # The mock adds the usage chunk only when asked; nothing is to be stripped.
    stream_usage = False
    sends_bytes = False

    def configure(
        self, cfg: DeploymentConfig, env: Mapping[str, str], problems: Problems
    ) -> MockBackend:
        return MockBackend(cfg.mock, cfg.upstream_model)


class MockAnswer:
    """A mock's answer: a whole reply, or a stream whose frames fall due on a schedule."""

    __slots__ = ("_frames", "_next", "_start", "body", "saw_done", "usage")

    status = 200
    headers: Mapping[str, str] = MappingProxyType({})
    truncated = False
    fault = None

    def __init__(
        self,
        body: bytes | None = None,
        frames: list[tuple[float, bytes]] | None = None,
        usage: Usage | None = None,
    ) -> None:
        self.body = body
        self._frames = frames or []
        self._next = 0
        self._start = asyncio.get_running_loop().time()
        self.saw_done = False
        self.usage = usage

    def poll(self) -> _Frames | None:
        frames, i = self._frames, self._next
        if i == len(frames):
            return None
        now = asyncio.get_running_loop().time() - self._start
        end = i
        while end < len(frames) and frames[end][0] <= now:
            end += 1
        self._next = end
        if end == len(frames):
            self.saw_done = True
        return _Frames(b"".join([f for _, f in frames[i:end]]))

    async def wait(self) -> None:
        due = self._frames[self._next][0] if self._next < len(self._frames) else 0.0
        delay = due - (asyncio.get_running_loop().time() - self._start)
        await asyncio.sleep(max(0.0, delay))

    def close(self) -> None:
        self._next = len(self._frames)


class _Frames:
    __slots__ = ("out",)

    events: Sequence[SseEventLike] = ()

    def __init__(self, out: bytes) -> None:
        self.out = out

    def __bool__(self) -> bool:
        return bool(self.out)


async def _answer(backend: MockBackend, out: Outgoing, request_id: str) -> Answer:
    payload = out.payload
    if out.endpoint is Endpoint.EMBEDDINGS:
        return MockAnswer(await backend.embeddings(payload))
    chat = out.endpoint is Endpoint.CHAT
    if not out.stream:
        reply = (
            backend.chat(payload, request_id) if chat else backend.completion(payload, request_id)
        )
        return MockAnswer(await reply)
    frames = backend.stream_frames(payload, request_id, chat=chat, include_usage=out.usage_chunk)
    return MockAnswer(frames=frames, usage=Usage.of_counts(backend.usage(payload, chat=chat)))
