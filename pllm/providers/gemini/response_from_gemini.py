"""Gemini ``GenerateContentResponse`` -> OpenAI chat completion.

Each candidate is a choice: its text parts the content, its thought parts the
``reasoning_content``, its function calls the ``tool_calls``, its images (image models)
LiteLLM's ``images``. A prompt blocked before any candidate is one empty choice that finished
with ``content_filter``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec

from pllm.providers.gemini.wire import (
    Candidate,
    GeminiUsage,
    decode_response,
    finish_reason,
    tool_call_id,
)
from pllm.usage import Usage

_encode = msgspec.json.Encoder().encode


def new_id_prefix() -> str:
    return secrets.token_hex(8)


def _message(candidate: Candidate, id_prefix: str) -> tuple[dict[str, Any], bool]:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    parts = candidate.content.parts if candidate.content is not None else []
    for part in parts:
        if part.text is not None:
            (thoughts if part.thought else texts).append(part.text)
        elif part.function_call is not None:
            fc = part.function_call
            base = fc.id or f"call_{id_prefix}_{candidate.index or 0}_{len(calls)}"
            calls.append(
                {
                    "id": tool_call_id(base, part.thought_signature),
                    "type": "function",
                    "function": {"name": fc.name, "arguments": bytes(fc.args).decode()},
                }
            )
        elif part.inline_data is not None:
            blob = part.inline_data
            url = f"data:{blob.mime_type};base64,{blob.data}"
            images.append({"type": "image_url", "image_url": {"url": url}})
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (calls or images) else None,
    }
    if calls:
        message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if images:
        message["images"] = images
    return message, bool(calls)


def gemini_to_openai_response(
    body: bytes, model: str, *, id_prefix: str | None = None, created: int | None = None
) -> tuple[bytes, Usage]:
    """The chat completion (JSON) for a Gemini reply body, and its usage. ``model`` names the
    reply when Gemini does not (``modelVersion``).

    Raises ``msgspec.DecodeError`` (or ``ValidationError``) for a body that is not a reply.
    """
    reply = decode_response(body)
    prefix = new_id_prefix() if id_prefix is None else id_prefix
    choices: list[dict[str, Any]] = []
    for position, candidate in enumerate(reply.candidates):
        message, called = _message(candidate, prefix)
        reason = finish_reason(candidate.finish_reason or "STOP", called)
        index = position if candidate.index is None else candidate.index
        choices.append(
            {"index": index, "message": message, "logprobs": None, "finish_reason": reason}
        )
    if not choices:
        blocked = reply.prompt_feedback is not None and reply.prompt_feedback.block_reason
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": None if blocked else ""},
                "logprobs": None,
                "finish_reason": "content_filter" if blocked else "stop",
            }
        )
    usage = reply.usage_metadata or GeminiUsage()
    out = {
        "id": f"chatcmpl-{reply.response_id or prefix}",
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": reply.model_version or model,
        "choices": choices,
        "usage": usage.openai_usage(),
    }
    return _encode(out), usage.gateway_usage()
