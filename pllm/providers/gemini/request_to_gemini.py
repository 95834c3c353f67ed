"""OpenAI chat completion request -> Gemini ``generateContent`` request.

The model is not in the body (it is in the URL). Gemini refuses fields it does not know, so
only what maps is sent: OpenAI fields without an equivalent (``user``, ``logit_bias``…) are
dropped. Schemas go as JSON Schema (``parametersJsonSchema``, ``responseJsonSchema``), which
Gemini takes as they are, instead of being cut down to the OpenAPI subset of ``parameters``.
"""

from __future__ import annotations

from typing import Any

from pllm.errors import bad_request
from pllm.providers.gemini.content import openai_content_to_parts, text_of
from pllm.providers.gemini.wire import SIGNATURE_SEPARATOR
from pllm.providers.openai.content import tool_arguments

# reasoning_effort -> thinking budget (tokens) for the Gemini 2.5 models; 0 turns it off.
THINKING_BUDGET = {"none": 0, "minimal": 128, "low": 1024, "medium": 2048, "high": 4096}
# Gemini 3 takes a level instead of a budget, and cannot turn thinking off.
THINKING_LEVEL = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high"}

# Gemini's own tools, passed through when a client lists them among its OpenAI tools.
_NATIVE_TOOLS = frozenset(
    {
        "googleSearch",
        "google_search",
        "googleSearchRetrieval",
        "google_search_retrieval",
        "codeExecution",
        "code_execution",
        "urlContext",
        "url_context",
    }
)


def _function_call(call: Any, names: dict[str, str]) -> dict[str, Any] | None:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        return None
    call_id = call.get("id")
    part: dict[str, Any] = {
        "functionCall": {"name": fn["name"], "args": tool_arguments(fn.get("arguments"))}
    }
    if isinstance(call_id, str):
        names[call_id] = fn["name"]
        _, sep, signature = call_id.partition(SIGNATURE_SEPARATOR)
        if sep and signature:
            part["thoughtSignature"] = signature
    return part


def _function_response(m: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    call_id = m.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    name = name or m.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(
            "A tool message's 'tool_call_id' answers no tool call of an earlier assistant "
            "message: Gemini needs the function's name.",
            param="messages",
        )
    return {"functionResponse": {"name": name, "response": {"content": text_of(m.get("content"))}}}


def _contents(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The system instruction's parts and the ``contents``; consecutive turns of one role are
    merged (the function responses answering one turn's calls must share one content)."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    # tool_call_id -> function name: a function response is matched by name.
    names: dict[str, str] = {}
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            text = text_of(m.get("content"))
            if text:
                system.append({"text": text})
            continue
        if role == "user":
            kind, parts = "user", openai_content_to_parts(m.get("content"))
        elif role == "assistant":
            kind = "model"
            parts = [{"text": t} for t in (text_of(m.get("content")),) if t]
            for call in m.get("tool_calls") or ():
                part = _function_call(call, names)
                if part is not None:
                    parts.append(part)
        elif role in ("tool", "function"):
            kind, parts = "user", [_function_response(m, names)]
        else:
            raise bad_request(
                f"Messages with role {role!r} cannot be sent to Gemini models.", param="messages"
            )
        if not parts:
            continue
        if contents and contents[-1]["role"] == kind:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": kind, "parts": parts})
    return system, contents


def _tools(tools: list[Any]) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            raise bad_request("Each tool must be an object.", param="tools")
        if tool.keys() & _NATIVE_TOOLS:
            native.append(tool)
            continue
        fn = tool.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad_request("Each tool needs a 'function' with a 'name'.", param="tools")
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description") is not None:
            decl["description"] = fn["description"]
        params = fn.get("parameters")
        if isinstance(params, dict) and params:
            decl["parametersJsonSchema"] = params
        declarations.append(decl)
    out = [{"functionDeclarations": declarations}] if declarations else []
    return out + native


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        config: dict[str, Any] = {"mode": "AUTO"}
    elif choice == "none":
        config = {"mode": "NONE"}
    elif choice == "required":
        config = {"mode": "ANY"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        config = {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
    else:
        raise bad_request(f"Unsupported tool_choice {choice!r}.", param="tool_choice")
    return {"functionCallingConfig": config}


def _response_format(fmt: Any, config: dict[str, Any]) -> None:
    if not isinstance(fmt, dict):
        return
    kind = fmt.get("type")
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            config["responseJsonSchema"] = schema


def _thinking(payload: dict[str, Any], model: str) -> dict[str, Any] | None:
    thinking = payload.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int):
            return {"thinkingBudget": budget, "includeThoughts": True}
    effort = payload.get("reasoning_effort")
    if not isinstance(effort, str) or effort not in THINKING_BUDGET:
        return None
    if model.startswith("gemini-3"):
        return {"thinkingLevel": THINKING_LEVEL[effort], "includeThoughts": effort != "none"}
    budget = THINKING_BUDGET[effort]
    if "flash-lite" in model and 0 < budget < 512:
        budget = 512  # flash-lite's least budget
    if "pro" in model and budget == 0:
        budget = 128  # the Pro models cannot turn thinking off
    return {"thinkingBudget": budget, "includeThoughts": budget > 0}


def _generation_config(payload: dict[str, Any], model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ):
        value = payload.get(src)
        if value is not None:
            config[dst] = value
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    n = payload.get("n")
    if n is not None and n != 1:
        config["candidateCount"] = n
    stop = payload.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    _response_format(payload.get("response_format"), config)
    thinking = _thinking(payload, model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def openai_to_gemini_request(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``generateContent`` body for a (validated) chat completion request to ``model``."""
    system, contents = _contents(payload["messages"])
    if not contents and system:
        # Gemini needs contents: a conversation of only a system prompt is the user's turn.
        contents, system = [{"role": "user", "parts": system}], []
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = payload.get("tools")
    if tools:
        out["tools"] = _tools(tools)
        tool_config = _tool_config(payload.get("tool_choice"))
        if tool_config is not None:
            out["toolConfig"] = tool_config
    config = _generation_config(payload, model)
    if config:
        out["generationConfig"] = config
    # LiteLLM's pass-through names for Gemini's own settings.
    for src, dst in (("safety_settings", "safetySettings"), ("cached_content", "cachedContent")):
        value = payload.get(src)
        if value is not None:
            out[dst] = value
    return out
