"""What OpenTelemetry's GenAI semantic conventions call things, read from pllm's own records.

Kept apart from :mod:`.tracing` (and free of OpenTelemetry imports) so the names can be
checked without an SDK. Nothing here reads prompt or completion text except
:func:`input_messages` and :func:`output_messages`, which the tracer calls only when
``capture_content`` is on.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.providers.codec import Endpoint

# pllm's provider prefix -> the convention's ``gen_ai.provider.name`` (its well-known values);
# a provider it does not list keeps pllm's name.
PROVIDER_NAMES = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "together_ai": "together_ai",
}

# The wire endpoint -> ``gen_ai.operation.name``. /v1/responses and /v1/messages are chats.
OPERATIONS = {
    Endpoint.CHAT: "chat",
    Endpoint.MESSAGES: "chat",
    Endpoint.RESPONSES: "chat",
    Endpoint.COMPLETIONS: "text_completion",
    Endpoint.EMBEDDINGS: "embeddings",
    Endpoint.COUNT_TOKENS: "count_tokens",
}
# The same by the client's path (the request span knows only the route).
OPERATIONS_BY_PATH = {
    f"/v1/{endpoint.value}": operation
    for endpoint, operation in OPERATIONS.items()
    if endpoint is not Endpoint.RESPONSES
} | {"/v1/responses": "chat"}


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


class _Choice(msgspec.Struct):
    finish_reason: str | None = None


class ReplyHead(msgspec.Struct):
    """The fields of a reply in the client's format (OpenAI's chat, completions, embeddings
    or Responses object; Anthropic's message) that the response attributes need. The rest is
    skipped unread."""

    id: str | None = None
    model: str | None = None
    choices: list[_Choice] = []
    # Anthropic's Messages.
    stop_reason: str | None = None
    # OpenAI's Responses.
    status: str | None = None

    def finish_reasons(self) -> list[str]:
        reasons = [c.finish_reason for c in self.choices if c.finish_reason is not None]
        if self.stop_reason is not None:
            reasons.append(self.stop_reason)
        elif not reasons and self.status is not None:
            reasons.append(self.status)
        return reasons


_head_decoder = msgspec.json.Decoder(ReplyHead)


def reply_head(body: bytes) -> ReplyHead | None:
    try:
        return _head_decoder.decode(body)
    except msgspec.DecodeError:
        return None


def _json(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def input_messages(payload: dict[str, Any]) -> str | None:
    """The prompt as JSON (``gen_ai.input.messages``): chat messages, a Responses input or a
    completion prompt, as the client sent it."""
    for key in ("messages", "input", "prompt"):
        if key in payload:
            return _json(payload[key])
    return None


def output_messages(body: bytes) -> str | None:
    """The completion as JSON (``gen_ai.output.messages``): the choices' messages or texts,
    Anthropic's content blocks, or the Responses output items."""
    try:
        reply = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(reply, dict):
        return None
    choices = reply.get("choices")
    if isinstance(choices, list):
        return _json(
            [c.get("message", c.get("text")) if isinstance(c, dict) else c for c in choices]
        )
    for key in ("content", "output"):
        if key in reply:
            return _json(reply[key])
    return None
