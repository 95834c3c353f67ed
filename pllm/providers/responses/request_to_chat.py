"""A Responses API request -> an OpenAI chat completion request.

``instructions`` becomes the system message; ``input`` (a string, or message items with
``input_text``/``input_image`` parts, ``function_call`` and ``function_call_output`` items)
the messages; function ``tools``, ``tool_choice``, ``max_output_tokens``, ``text.format`` and
the sampling parameters their chat equivalents. What only OpenAI's stateful service can do
(``previous_response_id``, ``store``, ``background``, built-in tools, …) is a 400 naming it.
"""

from __future__ import annotations

from typing import Any

from pllm.errors import GatewayError

# Parameters that need OpenAI's stateful service (the value that is no request for it passes).
_STATEFUL: dict[str, object] = {
    "previous_response_id": None,
    "conversation": None,
    "prompt": None,
    "background": False,
    "store": False,
}
# Passed on as they are.
_SAME = ("temperature", "top_p", "parallel_tool_calls", "user", "stream", "top_logprobs")


def unsupported(param: str, what: str) -> GatewayError:
    return GatewayError(
        400,
        f"{what} is not supported for this model: pllm serves /v1/responses for it through "
        "chat completions, without OpenAI's stored state or built-in tools.",
        param=param,
        code="unsupported_parameter",
    )


def invalid(param: str, message: str) -> GatewayError:
    return GatewayError(400, message, param=param, code="invalid_value")


def responses_to_chat_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The chat completion request for a Responses request (raises a 400 GatewayError for
    what it cannot translate)."""
    for name, passes in _STATEFUL.items():
        value = payload.get(name)
        if value is not None and value != passes:
            raise unsupported(name, f"'{name}'")
    messages: list[dict[str, Any]] = []
    instructions = payload.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    messages.extend(_messages(payload.get("input")))
    chat: dict[str, Any] = {"model": payload["model"], "messages": messages}
    for name in _SAME:
        if payload.get(name) is not None:
            chat[name] = payload[name]
    cap = payload.get("max_output_tokens")
    if cap is not None:
        chat["max_tokens"] = cap
    tools = payload.get("tools")
    if tools:
        chat["tools"] = _tools(tools)
    choice = payload.get("tool_choice")
    if choice is not None:
        chat["tool_choice"] = _tool_choice(choice)
    text = payload.get("text")
    if isinstance(text, dict):
        fmt = _response_format(text.get("format"))
        if fmt is not None:
            chat["response_format"] = fmt
    reasoning = payload.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        chat["reasoning_effort"] = reasoning["effort"]
    return chat


def _messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise invalid("input", "'input' must be a string or a list of input items.")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"input[{i}]", "Each input item must be an object.")
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, i))
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
            }
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            content = output if isinstance(output, str) else _content(output, f"input[{i}]")
            out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": content})
        else:
            raise unsupported(f"input[{i}].type", f"Input item type '{kind}'")
    return out


_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def _message(item: dict[str, Any], i: int) -> dict[str, Any]:
    role = _ROLES.get(item.get("role", ""))
    if role is None:
        raise invalid(f"input[{i}].role", "'role' must be user, assistant, system or developer.")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = _content(content, f"input[{i}].content")
    if role != "user":  # chat takes only text from the other roles
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        return {"role": role, "content": text}
    return {"role": role, "content": parts}


def _content(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid(where, f"'{where}' must be a string or a list of content parts.")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            assert isinstance(part, dict)
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image":
            assert isinstance(part, dict)
            url = part.get("image_url")
            if not isinstance(url, str):
                raise unsupported(f"{where}[{j}].file_id", "An image by file_id")
            image: dict[str, Any] = {"url": url}
            if isinstance(part.get("detail"), str):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise unsupported(f"{where}[{j}].type", f"Content part type '{kind}'")
    return parts


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid("tools", "'tools' must be a list.")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise unsupported(f"tools[{i}].type", f"The built-in tool '{kind}'")
        assert isinstance(tool, dict)
        fn: dict[str, Any] = {"name": tool.get("name")}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                fn[key] = tool[key]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    kind = choice.get("type") if isinstance(choice, dict) else choice
    raise unsupported("tool_choice", f"The tool choice '{kind}'")


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise unsupported("text.format.type", f"The text format '{fmt['type']}'")
