"""Anthropic Messages wire format for the fake upstream, written from Anthropic's API docs:
message objects, stream events (``event:`` + ``data:`` lines) and error bodies.

Pure functions with no server state; ``anthropic_upstream.FakeAnthropic`` sends what they
build and tests use them as fixtures.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ERROR_TYPES",
    "REPLY",
    "TOOL_INPUT",
    "error_body",
    "event",
    "message",
    "stream_events",
    "text_block",
    "tool_use_block",
    "usage",
]

REPLY = "Hello from fake Claude"
"""The text of every ordinary answer."""

TOOL_INPUT: dict[str, Any] = {"location": "Paris", "unit": "celsius"}
"""The input of every tool call the fake makes."""

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def usage(
    input_tokens: int, output_tokens: int, cache_read: int = 0, cache_creation: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(tool_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def message(
    msg_id: str,
    model: str,
    content: list[dict[str, Any]],
    stop_reason: str,
    use: dict[str, Any],
    stop_sequence: str | None = None,
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": use,
    }


def error_body(status: int, message_text: str | None = None) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    return {
        "type": "error",
        "error": {"type": kind, "message": message_text or f"fake {kind}"},
        "request_id": "req_fake_error",
    }


def event(name: str, payload: dict[str, Any]) -> bytes:
    """One SSE event as Anthropic frames it: an ``event:`` line, a ``data:`` line."""
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def stream_events(msg: dict[str, Any], pieces_per_block: list[list[str]]) -> list[bytes]:
    """The stream for a finished ``message``: ``message_start`` (content empty, output tokens
    1), per block ``content_block_start``, its deltas (``pieces_per_block[i]``: text pieces or
    partial JSON of a tool's input), ``content_block_stop``; a ``ping`` after the first
    block start; ``message_delta`` (stop reason, output tokens); ``message_stop``."""
    start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**msg["usage"], "output_tokens": 1}
    out = [event("message_start", {"type": "message_start", "message": start})]
    for index, (block, pieces) in enumerate(zip(msg["content"], pieces_per_block, strict=True)):
        if block["type"] == "text":
            first: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in pieces]
        else:
            first = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        out.append(
            event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": first},
            )
        )
        if index == 0:
            out.append(event("ping", {"type": "ping"}))
        out.extend(
            event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}
            )
            for d in deltas
        )
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": msg["stop_sequence"]},
                "usage": {"output_tokens": msg["usage"]["output_tokens"]},
            },
        )
    )
    out.append(event("message_stop", {"type": "message_stop"}))
    return out
