"""Anthropic Messages request -> OpenAI chat completion request."""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.errors import bad_request
from pllm.providers.anthropic.content import image_url, text_of

_encode = msgspec.json.Encoder().encode

# Extended thinking budget -> reasoning_effort (the inverse of THINKING_BUDGET's steps).
_EFFORT_STEPS = ((1024, "low"), (4096, "medium"))


def _effort(budget: Any) -> str:
    if isinstance(budget, int):
        for limit, effort in _EFFORT_STEPS:
            if budget <= limit:
                return effort
    return "high"


def _part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind == "image":
        url = image_url(block.get("source"))
        if url is None:
            raise bad_request(
                "Only base64 and URL image sources can be sent to this model.",
                param="messages",
            )
        return {"type": "image_url", "image_url": {"url": url}}
    return None  # thinking, redacted_thinking, documents: nothing to carry them in


def _tool_content(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, list):
        parts = [p for p in (_part(b) for b in content if isinstance(b, dict)) if p is not None]
        if all(p["type"] == "text" for p in parts):
            return [{"type": "text", "text": p["text"]} for p in parts]
        return parts
    return content if isinstance(content, str) else ""


def _user(content: Any) -> list[dict[str, Any]]:
    """One Anthropic user message: ``tool`` messages for its tool results, then a user message
    for the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            result = _tool_content(block.get("content"))
            if block.get("is_error") is True and isinstance(result, str):
                result = result or "error"
            out.append(
                {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": result}
            )
            continue
        part = _part(block)
        if part is not None:
            parts.append(part)
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": _encode(block.get("input", {})).decode(),
                    },
                }
            )
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _system(system: Any) -> dict[str, Any] | None:
    if isinstance(system, str):
        return {"role": "system", "content": system}
    if isinstance(system, list) and system:
        parts = [{"type": "text", "text": text_of([b])} for b in system if isinstance(b, dict)]
        return {"role": "system", "content": parts}
    return None


def _tool_choice(choice: Any) -> tuple[Any, bool]:
    """``tool_choice`` and whether parallel tool calls were turned off."""
    if not isinstance(choice, dict):
        return None, False
    off = choice.get("disable_parallel_tool_use") is True
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}, off
    return {"auto": "auto", "any": "required", "none": "none"}.get(kind or ""), off


def anthropic_to_openai_request(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """The chat completion request for a (validated) Messages request, sent as ``model``."""
    messages: list[dict[str, Any]] = []
    system = _system(payload.get("system"))
    if system is not None:
        messages.append(system)
    for m in payload["messages"]:
        if m.get("role") == "assistant":
            messages.append(_assistant(m.get("content")))
        else:
            messages.extend(_user(m.get("content")))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if payload.get("max_tokens") is not None:
        out["max_tokens"] = payload["max_tokens"]
    for name in ("temperature", "top_p"):
        if payload.get(name) is not None:
            out[name] = payload[name]
    if payload.get("stop_sequences"):
        out["stop"] = list(payload["stop_sequences"])
    metadata = payload.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    tools = payload.get("tools")
    if tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    k: v
                    for k, v in (
                        ("name", t.get("name")),
                        ("description", t.get("description")),
                        ("parameters", t.get("input_schema")),
                    )
                    if v is not None
                },
            }
            for t in tools
            if isinstance(t, dict) and "input_schema" in t
        ]
    choice, no_parallel = _tool_choice(payload.get("tool_choice"))
    if choice is not None and tools:
        out["tool_choice"] = choice
    if no_parallel and tools:
        out["parallel_tool_calls"] = False
    thinking = payload.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        out["reasoning_effort"] = _effort(thinking.get("budget_tokens"))
    if payload.get("stream") is True:
        out["stream"] = True
    return out
