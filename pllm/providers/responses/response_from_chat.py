"""A chat completion reply -> a Responses object: its text as a ``message`` item, its tool
calls as ``function_call`` items, its usage, and ``status`` (``incomplete`` when cut short)."""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.providers.responses.wire import (
    ChatMessage,
    ChatUsage,
    function_item,
    function_item_id,
    message_item,
    message_item_id,
    response_id,
    response_object,
)
from pllm.usage import Usage


class _Choice(msgspec.Struct):
    message: ChatMessage = msgspec.field(default_factory=ChatMessage)
    finish_reason: str | None = None


class _Reply(msgspec.Struct):
    id: str = ""
    created: int = 0
    choices: list[_Choice] = []
    usage: ChatUsage | None = None


_decode_reply = msgspec.json.Decoder(_Reply).decode
_encode = msgspec.json.Encoder().encode


def chat_to_responses_response(body: bytes, model: str) -> tuple[bytes, Usage | None]:
    """The Responses object for a chat completion reply (raises msgspec errors on a reply
    that is not one), and the usage."""
    reply = _decode_reply(body)
    resp_id = response_id(reply.id)
    output: list[dict[str, Any]] = []
    finish: str | None = None
    if reply.choices:
        choice = reply.choices[0]
        finish = choice.finish_reason
        message = choice.message
        text = message.content or message.refusal
        if text:
            output.append(message_item(message_item_id(resp_id, 0), text))
        for call in message.tool_calls or ():
            fn = call.function
            call_id = call.id or ""
            item_id = function_item_id(call_id, call.index)
            name = (fn.name if fn else None) or ""
            output.append(
                function_item(item_id, call_id, name, (fn.arguments if fn else None) or "")
            )
    obj = response_object(resp_id, reply.created, model, output, finish=finish, usage=reply.usage)
    usage = reply.usage.gateway_usage() if reply.usage is not None else None
    return _encode(obj), usage
