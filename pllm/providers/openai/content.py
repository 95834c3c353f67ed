"""Reading OpenAI chat messages, for the codecs that translate them into another format."""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.errors import bad_request

_decode = msgspec.json.decode


def text_of(content: Any) -> str:
    """The text of an OpenAI content value (a string, or parts; Anthropic's blocks read alike)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def tool_arguments(raw: Any) -> dict[str, Any]:
    """A tool call's ``arguments`` (a JSON object in a string) as the object every other
    format wants; a 400 naming ``messages`` when it is not one."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        value = _decode(raw)
    except msgspec.DecodeError:
        raise bad_request(
            "A tool call's 'arguments' is not valid JSON.", param="messages"
        ) from None
    if not isinstance(value, dict):
        raise bad_request("A tool call's 'arguments' must be a JSON object.", param="messages")
    return value
