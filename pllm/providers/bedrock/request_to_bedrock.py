"""OpenAI chat completion request -> Bedrock ``Converse`` / ``ConverseStream`` request.

The model is not in the body (it is in the URL), and the one body serves both operations.
Converse is the same for every model family on Bedrock (Claude, Llama, Nova, Mistral, …);
what only some models take goes in ``additionalModelRequestFields`` (Claude's ``top_k`` and
extended thinking). OpenAI fields without an equivalent (``user``, ``logit_bias``, ``n``,
``response_format``…) are dropped, and LiteLLM's pass-through names for Converse's own
settings (``guardrailConfig``, ``performanceConfig``, ``requestMetadata``,
``additionalModelRequestFields``) are sent as given.

Converse wants the turns to alternate, so consecutive messages of one role are merged (tool
results answering one turn's calls share one user turn), and it refuses tool blocks in a
conversation without ``toolConfig``: when the client sends a history with tool calls but no
``tools``, each function named in it is declared (with an open schema).
"""

from __future__ import annotations

from typing import Any

from pllm.errors import bad_request
from pllm.providers.bedrock.content import CACHE_POINT, openai_content_to_blocks
from pllm.providers.openai.content import tool_arguments

# reasoning_effort -> Claude's extended thinking budget (tokens), as LiteLLM maps it.
THINKING_BUDGET = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}

_PASS_THROUGH = ("guardrailConfig", "performanceConfig", "requestMetadata")
_OPEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def is_claude(model: str) -> bool:
    """A Claude model id, inference profiles (``us.anthropic...``) and ARNs included."""
    return "anthropic." in model or "claude" in model


def _assistant(m: dict[str, Any], called: list[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    # Claude's thinking, given back as LiteLLM returns it, must open the turn it came with.
    for thinking in m.get("thinking_blocks") or ():
        if isinstance(thinking, dict) and thinking.get("type") == "thinking":
            text = {"text": thinking.get("thinking") or ""}
            if thinking.get("signature"):
                text["signature"] = thinking["signature"]
            blocks.append({"reasoningContent": {"reasoningText": text}})
    blocks.extend(openai_content_to_blocks(m.get("content")))
    for call in m.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad_request("Each tool call needs a 'function' with a 'name'.", param="messages")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise bad_request("Each tool call needs an 'id'.", param="messages")
        called.append(fn["name"])
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call_id,
                    "name": fn["name"],
                    "input": tool_arguments(fn.get("arguments")),
                }
            }
        )
    return blocks


def _tool_result(m: dict[str, Any]) -> dict[str, Any]:
    call_id = m.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad_request("A tool message needs a 'tool_call_id'.", param="messages")
    content = [b for b in openai_content_to_blocks(m.get("content")) if b is not CACHE_POINT]
    return {"toolResult": {"toolUseId": call_id, "content": content or [{"text": " "}]}}


def _messages(
    messages: list[Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """The system blocks, the turns, and the function names the history calls."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    called: list[str] = []
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            content = m.get("content")
            if isinstance(content, str):
                if content:
                    system.append({"text": content})
                    if m.get("cache_control"):
                        system.append(CACHE_POINT)
            else:
                blocks = openai_content_to_blocks(content)
                system.extend(b for b in blocks if "text" in b or "cachePoint" in b)
            continue
        if role == "user":
            kind, blocks = "user", openai_content_to_blocks(m.get("content"))
            if blocks and m.get("cache_control"):
                blocks.append(CACHE_POINT)
        elif role == "assistant":
            kind, blocks = "assistant", _assistant(m, called)
        elif role in ("tool", "function"):
            kind, blocks = "user", [_tool_result(m)]
        else:
            raise bad_request(
                f"Messages with role {role!r} cannot be sent to Bedrock models.", param="messages"
            )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == kind:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": kind, "content": blocks})
    return system, turns, called


def _tool_specs(tools: list[Any]) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad_request("Each tool needs a 'function' with a 'name'.", param="tools")
        spec: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            spec["description"] = fn["description"]
        params = fn.get("parameters")
        schema = params if isinstance(params, dict) and params else _OPEN_SCHEMA
        spec["inputSchema"] = {"json": schema}
        specs.append({"toolSpec": spec})
        if tool.get("cache_control"):
            specs.append(CACHE_POINT)
    return specs


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    """Converse's toolChoice; None for ``auto`` (its default) and ``none``."""
    if choice is None or choice in ("auto", "none"):
        return None
    if choice == "required":
        return {"any": {}}
    fn = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return {"tool": {"name": fn["name"]}}
    raise bad_request(f"Unsupported tool_choice {choice!r}.", param="tool_choice")


def _tool_config(payload: dict[str, Any], called: list[str]) -> dict[str, Any] | None:
    tools = payload.get("tools") or []
    choice = payload.get("tool_choice")
    if choice == "none" or not tools:
        if not called:
            return None
        # Tool blocks in the history need a toolConfig; tool_choice "none" has no Converse
        # equivalent, so the model is not offered the client's tools (only their names).
        names = dict.fromkeys(called)
        specs = [{"toolSpec": {"name": n, "inputSchema": {"json": _OPEN_SCHEMA}}} for n in names]
        return {"tools": specs}
    config: dict[str, Any] = {"tools": _tool_specs(tools)}
    mapped = _tool_choice(choice)
    if mapped is not None:
        config["toolChoice"] = mapped
    return config


def _inference_config(payload: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    for src, dst in (("temperature", "temperature"), ("top_p", "topP")):
        value = payload.get(src)
        if value is not None:
            config[dst] = value
    stop = payload.get("stop")
    if stop:
        stops = [stop] if isinstance(stop, str) else [s for s in stop if s]
        if stops:
            config["stopSequences"] = stops
    return config


def _additional_fields(payload: dict[str, Any], model: str) -> dict[str, Any]:
    given = payload.get("additionalModelRequestFields")
    fields: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    if not is_claude(model):
        return fields
    top_k = payload.get("top_k")
    if top_k is not None:
        fields["top_k"] = top_k
    thinking = payload.get("thinking")
    effort = payload.get("reasoning_effort")
    if isinstance(thinking, dict):
        fields["thinking"] = thinking
    elif isinstance(effort, str) and effort in THINKING_BUDGET:
        fields["thinking"] = {"type": "enabled", "budget_tokens": THINKING_BUDGET[effort]}
    return fields


def openai_to_bedrock_request(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """The Converse body for a (validated) chat completion request to ``model``."""
    system, turns, called = _messages(payload["messages"])
    if not turns and system:
        # Converse needs a message: a conversation of only a system prompt is the user's turn.
        turns, system = [{"role": "user", "content": system}], []
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    config = _inference_config(payload)
    if config:
        out["inferenceConfig"] = config
    tool_config = _tool_config(payload, called)
    if tool_config is not None:
        out["toolConfig"] = tool_config
    fields = _additional_fields(payload, model)
    if fields:
        out["additionalModelRequestFields"] = fields
    for name in _PASS_THROUGH:
        value = payload.get(name)
        if value is not None:
            out[name] = value
    return out
