"""Anthropic Messages reply -> OpenAI chat completion."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from pllm.providers.anthropic.usage import AnthropicUsage
from pllm.usage import Usage

FINISH_REASON = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class Block(msgspec.Struct):
    type: str
    text: str | None = None
    thinking: str | None = None
    id: str | None = None
    name: str | None = None
    input: msgspec.Raw = msgspec.Raw(b"{}")


class AnthropicMessage(msgspec.Struct):
    id: str = ""
    model: str = ""
    content: list[Block] = []
    stop_reason: str | None = None
    usage: AnthropicUsage = msgspec.field(default_factory=AnthropicUsage)


_decode_message = msgspec.json.Decoder(AnthropicMessage).decode
_encode = msgspec.json.Encoder().encode


def finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASON.get(stop_reason, "stop")


def anthropic_to_openai_response(body: bytes) -> tuple[bytes, Usage]:
    """The chat completion (JSON) for an Anthropic reply body, and its usage.

    Raises ``msgspec.DecodeError`` (or ``ValidationError``) for a body that is not a message.
    """
    msg = _decode_message(body)
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.content:
        if block.type == "text" and block.text is not None:
            texts.append(block.text)
        elif block.type == "thinking" and block.thinking is not None:
            thinking.append(block.thinking)
        elif block.type == "tool_use":
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": bytes(block.input).decode()},
                }
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    reply = {
        "id": msg.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": msg.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(msg.stop_reason) or "stop",
            }
        ],
        "usage": msg.usage.openai_usage(),
    }
    return _encode(reply), msg.usage.gateway_usage()
