"""Gemini's reply wire format (``GenerateContentResponse``), as msgspec structs.

One shape serves whole replies and stream events: each ``data:`` event of
``streamGenerateContent?alt=sse`` is a whole ``GenerateContentResponse`` carrying the next
piece of each candidate. Google AI Studio and Vertex AI send the same camelCase JSON. Fields
the gateway does not read are not declared, so decoding skips them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.usage import PromptTokensDetails, Usage


class FunctionCall(msgspec.Struct, rename="camel"):
    name: str = ""
    # The arguments object as sent: the OpenAI ``arguments`` string is its text.
    args: msgspec.Raw = msgspec.Raw(b"{}")
    id: str | None = None


class Blob(msgspec.Struct, rename="camel"):
    mime_type: str = ""
    data: str = ""


class Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    # A part of the model's reasoning (thinking models with ``includeThoughts``).
    thought: bool = False
    # Opaque; Gemini 3 wants it back on the function calls of the turn it was sent with.
    thought_signature: str | None = None
    function_call: FunctionCall | None = None
    inline_data: Blob | None = None


class Content(msgspec.Struct, rename="camel"):
    parts: list[Part] = []
    role: str | None = None


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None
    index: int | None = None


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class GoogleError(msgspec.Struct):
    code: int | None = None
    message: str = ""
    status: str | None = None


class GeminiUsage(msgspec.Struct, rename="camel"):
    """``usageMetadata``. ``promptTokenCount`` includes the cached tokens; the thoughts are
    counted apart from the candidates; tool-use prompt tokens (search results…) apart from
    the prompt."""

    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    cached_content_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    total_token_count: int | None = None

    def counts(self) -> tuple[int, int, int]:
        prompt = self.prompt_token_count + self.tool_use_prompt_token_count
        completion = self.candidates_token_count + self.thoughts_token_count
        total = self.total_token_count
        return prompt, completion, prompt + completion if total is None else total

    def gateway_usage(self) -> Usage:
        prompt, completion, total = self.counts()
        cached = self.cached_content_token_count
        return Usage(prompt, completion, total, PromptTokensDetails(cached) if cached else None)

    def openai_usage(self) -> dict[str, Any]:
        prompt, completion, total = self.counts()
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": total,
            "prompt_tokens_details": {"cached_tokens": self.cached_content_token_count},
            "completion_tokens_details": {"reasoning_tokens": self.thoughts_token_count},
        }


class GenerateContentResponse(msgspec.Struct, rename="camel"):
    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: GeminiUsage | None = None
    model_version: str | None = None
    response_id: str | None = None
    # A stream that fails after it started sends Google's error object as an event.
    error: GoogleError | None = None


decode_response = msgspec.json.Decoder(GenerateContentResponse).decode

# Gemini's finishReason -> OpenAI's finish_reason. Every safety-like stop is a content filter.
FINISH_REASON = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
}


def finish_reason(reason: str, called: bool) -> str:
    """The OpenAI finish reason of a candidate that ended with ``reason``; ``called``: it made
    function calls (Gemini says STOP for those)."""
    mapped = FINISH_REASON.get(reason, "stop")
    return "tool_calls" if called and mapped == "stop" else mapped


# Gemini has no tool call ids of its own to rely on (only newer models send one), and wants
# Gemini 3's thought signature back on the call it came with: the OpenAI id carries it, after
# this separator, through the client and back into the next request.
SIGNATURE_SEPARATOR = "__thought__"


def tool_call_id(base: str, signature: str | None) -> str:
    return base if signature is None else base + SIGNATURE_SEPARATOR + signature
