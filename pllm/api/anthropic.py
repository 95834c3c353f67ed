"""The Anthropic-compatible endpoints: /v1/messages and /v1/messages/count_tokens.

This surface speaks Anthropic's API: the key comes as ``x-api-key`` (or a bearer token) and
every error, the key check's included, is ``{"type": "error", "error": {"type", "message"}}``
(the app shapes them with the route's surface). Any deployment that serves chat can answer
/v1/messages (see :mod:`pllm.providers.anthropic.surface`); count_tokens needs an
``anthropic`` deployment.
"""

from __future__ import annotations

from typing import Any

from pllm.api.model_call import model_call
from pllm.api.validation import require_model
from pllm.errors import bad_request
from pllm.providers.anthropic.surface import MESSAGES
from pllm.providers.codec import Endpoint


def check_messages(payload: dict[str, Any]) -> tuple[str, bool]:
    model = require_model(payload)
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: a non-empty array of messages is required.", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise bad_request(
                f"messages.{i}.role: Input should be 'user' or 'assistant'.", param="messages"
            )
    max_tokens = payload.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise bad_request("max_tokens: a positive integer is required.", param="max_tokens")
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("stream: Input should be a valid boolean.", param="stream")
    return model, bool(stream)


def _count_tokens(payload: dict[str, Any]) -> tuple[str, bool]:
    return require_model(payload), False


messages = model_call(MESSAGES, Endpoint.MESSAGES, check_messages)
count_tokens = model_call(MESSAGES, Endpoint.COUNT_TOKENS, _count_tokens)
