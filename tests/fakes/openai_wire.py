"""OpenAI wire format for the fake upstream: payloads, SSE framing and error bodies.

Pure functions with no server state and no ``aiohttp``: ``openai_upstream.FakeOpenAI``
calls them to build the JSON it sends, and tests call ``fake_embedding`` and
``reply_pieces`` to know what to expect back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "BOW_DIMENSIONS",
    "DEFAULT_REPLY",
    "EMBEDDING_DIMENSIONS",
    "SSE_DONE",
    "bag_of_words_embedding",
    "chat_chunk",
    "chat_completion",
    "count_words",
    "embedding_texts",
    "embeddings_response",
    "error_body",
    "error_status",
    "fake_embedding",
    "invalid_url_body",
    "model_list",
    "model_object",
    "reply_pieces",
    "sse",
    "text_completion",
    "token_usage",
]

DEFAULT_REPLY = "Hello from fake upstream"
"""Content of every ordinary (non-error) answer, unless ``x-fake-chunks`` is sent."""

EMBEDDING_DIMENSIONS = 8
# bow- models' vectors: wide enough that a few words rarely share a dimension.
BOW_DIMENSIONS = 1024
"""Length of the fake embedding vectors, unless the request passes ``dimensions``."""

SSE_DONE = b"data: [DONE]\n\n"
"""The event that ends every complete stream."""

_CREATED = 1_700_000_000
"""``created`` timestamp of every model object."""

_SYSTEM_FINGERPRINT = "fp_fake"


# ---------------------------------------------------------------------------- content


def fake_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The deterministic vector the fake returns for ``text``.

    Every component is ``(byte - 128) / 128`` for bytes of a SHA-256 stream, so it
    lies in ``[-1, 1)`` and survives a float32 round trip exactly.
    """
    out: list[float] = []
    counter = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{counter}\x00{text}".encode()).digest()
        out.extend((b - 128) / 128 for b in digest)
        counter += 1
    return out[:dimensions]


def reply_pieces(chunks: int | None = None, reply: str = DEFAULT_REPLY) -> list[str]:
    """The content pieces of an answer: one per stream chunk, joined for non-streams.

    Without ``chunks`` the reply is split into words (``["Hello", " from", ...]``);
    with ``chunks=N`` the pieces are ``["tok0", " tok1", ..., " tok{N-1}"]``.
    """
    if chunks is None:
        words = reply.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]
    return [f"tok{i}" if i == 0 else f" tok{i}" for i in range(chunks)]


def count_words(value: Any) -> int:
    """A deterministic stand-in for token counting over any JSON value: the words of its
    strings, through lists and ``content``/``text`` fields; an integer (a token id) is one.
    The Anthropic fake counts its prompts with it too."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        return sum(count_words(v) for k, v in value.items() if k in ("content", "text"))
    if isinstance(value, int) and not isinstance(value, bool):
        return 1
    return 0


def token_usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """The ``usage`` object of a completion."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def sse(payload: Any) -> bytes:
    """One server-sent event carrying ``payload`` as compact JSON."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


# ---------------------------------------------------------------------------- completions


def _completion(
    kind: str, completion_id: str, created: int, model: str, choice: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """The envelope every completion and chunk shares, around its one ``choice``; ``extra``
    fields (``usage``) come last."""
    return {
        "id": completion_id,
        "object": kind,
        "created": created,
        "model": model,
        "system_fingerprint": _SYSTEM_FINGERPRINT,
        "choices": [choice],
        **extra,
    }


def chat_chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice."""
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return _completion("chat.completion.chunk", completion_id, created, model, choice)


def chat_completion(
    completion_id: str, created: int, model: str, content: str, usage: dict[str, int]
) -> dict[str, Any]:
    """A finished (non-streamed) ``chat.completion`` with one assistant message."""
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }
    return _completion("chat.completion", completion_id, created, model, choice, usage=usage)


def text_completion(
    completion_id: str, created: int, model: str, text: str | None, finish_reason: str | None
) -> dict[str, Any]:
    """A legacy ``text_completion`` (a stream chunk, or the whole answer) with one choice."""
    choice = {"text": text or "", "index": 0, "logprobs": None, "finish_reason": finish_reason}
    return _completion("text_completion", completion_id, created, model, choice)


# ---------------------------------------------------------------------------- embeddings


def embedding_texts(raw: Any) -> Iterator[str]:
    """The inputs of an embeddings request as strings (token arrays are stringified)."""
    if isinstance(raw, str):
        yield raw
        return
    if not isinstance(raw, list) or not raw:
        return
    if all(isinstance(t, int) and not isinstance(t, bool) for t in raw):
        yield json.dumps(raw)
        return
    for item in raw:
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            yield json.dumps(item)


def bag_of_words_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A ``bow-`` model's vector: one count per distinct lower-case word, in the dimension
    its SHA-256 names. The cosine similarity of two texts is then known in advance: for
    word sets A and B without hash collisions, |A ∩ B| / sqrt(|A| |B|)."""
    out = [0.0] * dimensions
    for word in set(text.lower().split()):
        out[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % dimensions] += 1.0
    return out


def embeddings_response(
    model: str, texts: Sequence[str], dimensions: int, *, as_base64: bool, prompt_tokens: int
) -> dict[str, Any]:
    """The embeddings list for ``texts``: ``fake_embedding`` vectors, floats or base64.

    Base64 vectors are little-endian float32 arrays, as OpenAI sends them.
    """
    data: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        if model.startswith("bow-"):  # known similarities, for the semantic cache's tests
            vector = bag_of_words_embedding(text, BOW_DIMENSIONS)
        else:
            vector = fake_embedding(text, dimensions)
        embedding: list[float] | str = (
            base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            if as_base64
            else vector
        )
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


# ---------------------------------------------------------------------------- models


def model_object(model: str) -> dict[str, Any]:
    """The ``model`` object that ``GET /v1/models/{model}`` returns."""
    return {"id": model, "object": "model", "created": _CREATED, "owned_by": "fake-upstream"}


def model_list(models: Sequence[str]) -> dict[str, Any]:
    """The list that ``GET /v1/models`` returns."""
    return {"object": "list", "data": [model_object(m) for m in models]}


# ---------------------------------------------------------------------------- errors


def error_status(model: str | None) -> int | None:
    """The status an ``error-<status>`` model asks for, if it is one."""
    if model is None or not model.startswith("error-"):
        return None
    suffix = model.removeprefix("error-")
    if not suffix.isdigit():
        return None
    status = int(suffix)
    return status if 400 <= status <= 599 else None


def _error_details(status: int) -> tuple[str, str | None, str]:
    """(type, code, message) of an OpenAI-style error body for ``status``."""
    if status == 400:
        return "invalid_request_error", "invalid_request", "fake upstream rejected the request"
    if status == 401:
        return "invalid_request_error", "invalid_api_key", "fake upstream: incorrect API key"
    if status == 403:
        return "permission_error", "permission_denied", "fake upstream: permission denied"
    if status == 404:
        return "invalid_request_error", "model_not_found", "fake upstream: model not found"
    if status == 429:
        return "requests", "rate_limit_exceeded", "fake upstream: rate limit reached"
    if status >= 500:
        return "server_error", "server_error", f"fake upstream: server error {status}"
    return "invalid_request_error", f"http_{status}", f"fake upstream: error {status}"


def error_body(
    status: int,
    message: str | None = None,
    error_type: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """An OpenAI error body; ``message``, ``type`` and ``code`` default by ``status``."""
    default_type, default_code, default_message = _error_details(status)
    return {
        "error": {
            "message": message if message is not None else default_message,
            "type": error_type if error_type is not None else default_type,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def invalid_url_body(method: str, path: str) -> dict[str, Any]:
    """The 404 body OpenAI sends for a route it does not have."""
    return {
        "error": {
            "message": f"Invalid URL ({method} {path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
