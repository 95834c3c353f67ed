"""Checks on the few request fields the gateway acts on; every other field passes through.

A client's wrong type gets a 400 naming the parameter, as OpenAI does, instead of a confusing
upstream error or a crash.
"""

from __future__ import annotations

from typing import Any

from pllm.errors import bad_request

_INT_FIELDS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")
_NUMBER_FIELDS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_FIELD_KINDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    **{name: (int, "an integer") for name in _INT_FIELDS},
    **{name: ((int, float), "a number") for name in _NUMBER_FIELDS},
}


def _type_error(param: str, expected: str) -> Exception:
    return bad_request(
        f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type"
    )


def require_model(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    if model is None:
        raise bad_request(
            "You must provide a model parameter.", param="model", code="missing_model"
        )
    if not isinstance(model, str) or not model:
        raise _type_error("model", "a non-empty string")
    return model


def _check_common(payload: dict[str, Any]) -> bool:
    """Validates shared sampling fields; returns whether a stream was requested."""
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _type_error("stream", "a boolean")
    options = payload.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise _type_error("stream_options", "an object")
        if not stream:
            raise bad_request(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
    # Only the fields present: a request carries a handful, the checked list is longer.
    for name, v in payload.items():
        kind = _FIELD_KINDS.get(name)
        if kind is None or v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, kind[0]):
            raise _type_error(name, kind[1])
    return bool(stream)


def check_chat(payload: dict[str, Any]) -> tuple[str, bool]:
    model = require_model(payload)
    messages = payload.get("messages")
    if messages is None:
        raise bad_request("Missing required parameter: 'messages'.", param="messages")
    if not isinstance(messages, list):
        raise _type_error("messages", "an array")
    if not messages:
        raise bad_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            param="messages",
        )
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise _type_error(f"messages[{i}]", "an object with a string 'role'")
    return model, _check_common(payload)


def check_completion(payload: dict[str, Any]) -> tuple[str, bool]:
    model = require_model(payload)
    prompt = payload.get("prompt")
    if prompt is None:
        raise bad_request("Missing required parameter: 'prompt'.", param="prompt")
    if not isinstance(prompt, str | list):
        raise _type_error("prompt", "a string or an array")
    return model, _check_common(payload)


def check_embeddings(payload: dict[str, Any]) -> str:
    model = require_model(payload)
    value = payload.get("input")
    if value is None:
        raise bad_request("Missing required parameter: 'input'.", param="input")
    ok = isinstance(value, str) or (
        isinstance(value, list)
        and bool(value)
        and (
            all(isinstance(v, str) for v in value)
            or all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or all(isinstance(v, list) and all(isinstance(t, int) for t in v) for v in value)
        )
    )
    if not ok:
        raise _type_error("input", "a string, an array of strings or an array of token arrays")
    fmt = payload.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    return model
