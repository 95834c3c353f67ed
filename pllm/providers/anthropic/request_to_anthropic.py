"""OpenAI chat completion request -> Anthropic Messages request."""

from __future__ import annotations

from typing import Any

from pllm.errors import bad_request
from pllm.providers.anthropic.content import openai_content_to_blocks, text_of
from pllm.providers.openai.content import tool_arguments

# Longest reply a model may give when the client sets no max_tokens (Anthropic requires one).
_DEFAULT_MAX_TOKENS: tuple[tuple[str, int], ...] = (
    ("claude-opus-4-5", 64000),
    ("claude-opus-4", 32000),
    ("claude-sonnet-4", 64000),
    ("claude-haiku-4", 64000),
    ("claude-3-7-sonnet", 64000),
    ("claude-3-5", 8192),
    ("claude-3", 4096),
)
FALLBACK_MAX_TOKENS = 4096

# reasoning_effort -> extended thinking budget (tokens). "minimal"/"none" turn thinking off.
THINKING_BUDGET = {"low": 1024, "medium": 4096, "high": 16384}


def default_max_tokens(model: str) -> int:
    for prefix, limit in _DEFAULT_MAX_TOKENS:
        if model.startswith(prefix):
            return limit
    return FALLBACK_MAX_TOKENS


def _tool(tool: Any) -> dict[str, Any]:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise bad_request("Each tool needs a 'function' with a 'name'.", param="tools")
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description") is not None:
        out["description"] = fn["description"]
    params = fn.get("parameters")
    out["input_schema"] = params if isinstance(params, dict) else {"type": "object"}
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise bad_request(f"Unsupported tool_choice {choice!r}.", param="tool_choice")
    if parallel is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def _assistant_blocks(m: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = openai_content_to_blocks(m.get("content"))
    for call in m.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": tool_arguments(fn.get("arguments")),
            }
        )
    return blocks


def _tool_result(m: dict[str, Any]) -> dict[str, Any]:
    content = m.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.get("tool_call_id")}
    if isinstance(content, list):
        block["content"] = openai_content_to_blocks(content)
    else:
        block["content"] = content if isinstance(content, str) else ""
    return block


def _messages(messages: list[Any]) -> tuple[str | list[dict[str, Any]] | None, list[Any]]:
    """``system`` and the Anthropic ``messages``; consecutive messages of one role merged."""
    system: list[Any] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        content: Any
        if role in ("system", "developer"):
            system.append(m.get("content"))
            continue
        if role == "tool":
            role, content = "user", [_tool_result(m)]
        elif role == "assistant":
            content = _assistant_blocks(m)
            if not m.get("tool_calls") and isinstance(m.get("content"), str):
                content = m["content"]
        elif role == "user":
            content = m.get("content")
            if not isinstance(content, str):
                content = openai_content_to_blocks(content)
        else:
            raise bad_request(
                f"Messages with role {role!r} cannot be sent to Anthropic models.",
                param="messages",
            )
        if out and out[-1]["role"] == role:
            prev = out[-1]
            prev["content"] = _as_blocks(prev["content"]) + _as_blocks(content)
        else:
            out.append({"role": role, "content": content})
    return _system(system), out


def _as_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def _system(parts: list[Any]) -> str | list[dict[str, Any]] | None:
    if not parts:
        return None
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    blocks: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, str):
            blocks.append({"type": "text", "text": p})
        else:
            blocks.extend({"type": "text", "text": text_of([b])} for b in p or () if b)
    return blocks


def openai_to_anthropic_request(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """The Messages request for a (validated) chat completion request, sent as ``model``.

    Fields Anthropic has no use for (``logprobs``, ``presence_penalty``…) are dropped: the
    Messages API rejects unknown fields. ``n`` above 1 is refused.
    """
    n = payload.get("n")
    if n is not None and n != 1:
        raise bad_request("Anthropic models return one choice: 'n' must be 1.", param="n")
    system, messages = _messages(payload["messages"])
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    out: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens or default_max_tokens(model),
    }
    if system is not None:
        out["system"] = system
    for name in ("temperature", "top_p", "top_k"):
        if payload.get(name) is not None:
            out[name] = payload[name]
    stop = payload.get("stop")
    if stop is not None:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(payload.get("user"), str):
        out["metadata"] = {"user_id": payload["user"]}
    tools = payload.get("tools")
    if tools:
        out["tools"] = [_tool(t) for t in tools]
    choice = _tool_choice(payload.get("tool_choice"), payload.get("parallel_tool_calls"))
    if choice is not None and tools:
        out["tool_choice"] = choice
    budget = THINKING_BUDGET.get(payload.get("reasoning_effort") or "")
    if budget is not None:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if out["max_tokens"] <= budget:
            out["max_tokens"] = budget + out["max_tokens"]
    if payload.get("stream") is True:
        out["stream"] = True
    return out
