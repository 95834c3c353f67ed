"""The chat completion reply and chunk as the Responses translators read them, and the
Responses objects they build (one builder for the whole reply and the stream's last event, so
both give the same object)."""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.usage import PromptTokensDetails, Usage


class ToolFunction(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCall(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: ToolFunction | None = None


class ChatMessage(msgspec.Struct):
    """A reply's message, or a chunk's delta."""

    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class _Details(msgspec.Struct):
    cached_tokens: int | None = None


class _OutputDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class ChatUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int | None = None
    prompt_tokens_details: _Details | None = None
    completion_tokens_details: _OutputDetails | None = None
    # What the Anthropic codec reports of a prompt-cache write.
    cache_creation_input_tokens: int | None = None

    def cached(self) -> int:
        details = self.prompt_tokens_details
        return (details.cached_tokens or 0) if details is not None else 0

    def total(self) -> int:
        total = self.total_tokens
        return self.prompt_tokens + self.completion_tokens if total is None else total

    def gateway_usage(self) -> Usage:
        cached = self.cached()
        details = PromptTokensDetails(cached) if cached else None
        return Usage(self.prompt_tokens, self.completion_tokens, self.total(), details)

    def responses_usage(self) -> dict[str, Any]:
        out = self.completion_tokens_details
        reasoning = (out.reasoning_tokens or 0) if out is not None else 0
        return {
            "input_tokens": self.prompt_tokens,
            "input_tokens_details": {
                "cached_tokens": self.cached(),
                "cache_write_tokens": self.cache_creation_input_tokens or 0,
            },
            "output_tokens": self.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": self.total(),
        }


# Why a response stopped short, by chat finish reason (anything else is complete).
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_id(chat_id: str) -> str:
    return "resp_" + (chat_id.removeprefix("chatcmpl-") or "pllm")


def message_item_id(resp_id: str, index: int) -> str:
    return f"msg_{resp_id.removeprefix('resp_')}_{index}"


def function_item_id(call_id: str, index: int) -> str:
    return f"fc_{call_id or index}"


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def message_item(item_id: str, text: str | None) -> dict[str, Any]:
    """A message item with its text, or (None) as it opens, in progress and empty."""
    return {
        "id": item_id,
        "type": "message",
        "status": "in_progress" if text is None else "completed",
        "role": "assistant",
        "content": [] if text is None else [text_part(text)],
    }


def function_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def response_object(
    resp_id: str,
    created: int,
    model: str,
    output: list[dict[str, Any]],
    *,
    finish: str | None,
    usage: ChatUsage | None,
    in_progress: bool = False,
) -> dict[str, Any]:
    """The Responses object (``object: "response"``) of a translated reply."""
    reason = INCOMPLETE.get(finish or "")
    status = "in_progress" if in_progress else ("incomplete" if reason else "completed")
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": reason} if reason and not in_progress else None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage.responses_usage() if usage is not None and not in_progress else None,
    }
