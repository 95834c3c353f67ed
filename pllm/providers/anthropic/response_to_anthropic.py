"""OpenAI chat completion -> Anthropic Messages reply."""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.providers.anthropic.usage import OpenAIUsage
from pllm.usage import Usage

STOP_REASON = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode


class ToolFunction(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCall(msgspec.Struct):
    # In a stream, which call a delta continues; a whole reply's calls come in order.
    index: int = 0
    id: str | None = None
    function: ToolFunction | None = None


class OpenAIMessage(msgspec.Struct):
    """A reply's message, or a stream chunk's delta: the same fields."""

    content: str | None = None
    tool_calls: list[ToolCall] | None = None


class _Choice(msgspec.Struct):
    message: OpenAIMessage = msgspec.field(default_factory=OpenAIMessage)
    finish_reason: str | None = None


class _Completion(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[_Choice] = []
    usage: OpenAIUsage | None = None


_decode_completion = msgspec.json.Decoder(_Completion).decode


def stop_reason(finish: str | None) -> str:
    return STOP_REASON.get(finish or "stop", "end_turn")


def tool_input(arguments: str | None) -> Any:
    """A tool call's ``arguments`` as the ``input`` object Anthropic clients expect."""
    if not arguments:
        return {}
    try:
        value = _decode(arguments)
    except msgspec.DecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def message_id(openai_id: str) -> str:
    return openai_id if openai_id.startswith("msg_") else "msg_" + openai_id


def openai_to_anthropic_response(body: bytes, model: str) -> tuple[bytes, Usage | None]:
    """The Messages reply (JSON) for a chat completion body, and its usage. ``model`` is the
    name the client asked for. Raises ``msgspec.DecodeError``/``ValidationError`` for a body
    that is not a chat completion."""
    completion = _decode_completion(body)
    choice = completion.choices[0] if completion.choices else _Choice()
    content: list[dict[str, Any]] = []
    if choice.message.content:
        content.append({"type": "text", "text": choice.message.content})
    for call in choice.message.tool_calls or ():
        fn = call.function or ToolFunction()
        content.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": fn.name,
                "input": tool_input(fn.arguments),
            }
        )
    usage = completion.usage
    reply = {
        "id": message_id(completion.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.finish_reason),
        "stop_sequence": None,
        "usage": (usage or OpenAIUsage()).anthropic_usage(),
    }
    return _encode(reply), usage.gateway_usage() if usage is not None else None
