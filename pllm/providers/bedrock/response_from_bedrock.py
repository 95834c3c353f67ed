"""Bedrock ``Converse`` reply -> OpenAI chat completion.

The reply's text blocks are the content, its ``toolUse`` blocks the ``tool_calls``, its
reasoning the ``reasoning_content`` (and LiteLLM's ``thinking_blocks``, signatures included,
for the client to send back with the next turn). Converse names neither the reply nor the
model: the id is made here and the model is the deployment's.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec

from pllm.providers.bedrock.wire import ContentBlock, decode_response, finish_reason
from pllm.usage import Usage

_encode = msgspec.json.Encoder().encode


def new_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def thinking_block(text: str, signature: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "thinking", "thinking": text}
    if signature is not None:
        block["signature"] = signature
    return block


def message_of(blocks: list[ContentBlock]) -> dict[str, Any]:
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if block.text is not None:
            texts.append(block.text)
        elif block.tool_use is not None:
            use = block.tool_use
            calls.append(
                {
                    "id": use.tool_use_id,
                    "type": "function",
                    "function": {"name": use.name, "arguments": bytes(use.input).decode()},
                }
            )
        elif block.reasoning_content is not None and block.reasoning_content.reasoning_text:
            r = block.reasoning_content.reasoning_text
            reasoning.append(r.text)
            thinking.append(thinking_block(r.text, r.signature))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = thinking
    return message


def bedrock_to_openai_response(
    body: bytes, model: str, *, response_id: str | None = None, created: int | None = None
) -> tuple[bytes, Usage]:
    """The chat completion (JSON) for a Converse reply body, and its usage.

    Raises ``msgspec.DecodeError`` (or ``ValidationError``) for a body that is not a reply.
    """
    reply = decode_response(body)
    blocks = reply.output.message.content if reply.output.message is not None else []
    choice = {
        "index": 0,
        "message": message_of(blocks),
        "logprobs": None,
        "finish_reason": finish_reason(reply.stop_reason),
    }
    out = {
        "id": new_id() if response_id is None else response_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [choice],
        "usage": reply.usage.openai_usage(),
    }
    return _encode(out), reply.usage.gateway_usage()
