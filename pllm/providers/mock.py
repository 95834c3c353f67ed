"""The ``mock`` provider: deterministic replies in process, at a configurable pace.

Used by the default config (a gateway that works with no API key), by tests and by benches.
``mock_latency_ms`` delays a non-streaming reply; a stream waits ``mock_ttft_ms`` for its first
token and then emits ``mock_tokens_per_second``. Token counts are words.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from pllm.config import MockParams

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
        await self._pause_whole_reply()
        return _encode(
            {
                "id": f"chatcmpl-{request_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.text},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": self._usage(estimate_tokens(payload.get("messages"))),
            }
        )

    async def completion(self, payload: dict[str, Any], request_id: str) -> bytes:
        await self._pause_whole_reply()
        return _encode(
            {
                "id": f"cmpl-{request_id}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {"index": 0, "text": self.text, "logprobs": None, "finish_reason": "stop"}
                ],
                "usage": self._usage(estimate_tokens(payload.get("prompt"))),
            }
        )

    async def stream(
        self, payload: dict[str, Any], request_id: str, *, chat: bool, include_usage: bool
    ) -> AsyncIterator[bytes]:
        """Yields the SSE frames of an OpenAI stream, ``data: [DONE]`` last."""
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

        if p.ttft_ms:
            await asyncio.sleep(p.ttft_ms / 1000)
        if chat:
            yield frame(
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            )
        gap = 1 / p.tokens_per_second if p.tokens_per_second else 0.0
        for i, token in enumerate(self.tokens):
            if gap and i:
                await asyncio.sleep(gap)
            if chat:
                yield frame({"index": 0, "delta": {"content": token}, "finish_reason": None})
            else:
                yield frame({"index": 0, "text": token, "logprobs": None, "finish_reason": None})
        last: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            last["delta"] = {}
        else:
            last.update(text="", logprobs=None)
        yield frame(last)
        if include_usage:
            usage = self.usage(payload, chat=chat)
            body = {"id": cid, "object": obj, "created": created, "model": self.model}
            yield b"data: " + _encode({**body, "choices": [], "usage": usage}) + b"\n\n"
        yield b"data: [DONE]\n\n"

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
