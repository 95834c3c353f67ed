"""Bedrock's Converse wire format, as msgspec structs: the ``Converse`` reply and the
``ConverseStream`` events (each frame's payload is the event's own object; its name is the
frame's ``:event-type``). Fields the gateway does not read are not declared, so decoding
skips them (ConverseStream pads its payloads with a ``p`` field, for one).
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.usage import PromptTokensDetails, Usage


class ToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""
    # The input object as sent: the OpenAI ``arguments`` string is its text.
    input: msgspec.Raw = msgspec.Raw(b"{}")


class ReasoningText(msgspec.Struct):
    text: str = ""
    signature: str | None = None


class ReasoningContent(msgspec.Struct, rename="camel"):
    reasoning_text: ReasoningText | None = None
    redacted_content: str | None = None


class ContentBlock(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: ToolUse | None = None
    reasoning_content: ReasoningContent | None = None


class Message(msgspec.Struct):
    role: str = "assistant"
    content: list[ContentBlock] = []


class Output(msgspec.Struct):
    message: Message | None = None


class BedrockUsage(msgspec.Struct, rename="camel"):
    """``TokenUsage``. ``inputTokens`` leaves out the tokens read from and written to the
    prompt cache, which are reported apart (as Anthropic's ``input_tokens`` does); OpenAI's
    ``prompt_tokens`` includes them, ``cached_tokens`` being the reads."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None

    def prompt_tokens(self) -> int:
        return (
            self.input_tokens
            + (self.cache_read_input_tokens or 0)
            + (self.cache_write_input_tokens or 0)
        )

    def gateway_usage(self) -> Usage:
        prompt, completion = self.prompt_tokens(), self.output_tokens
        cached = self.cache_read_input_tokens
        return Usage(
            prompt, completion, prompt + completion, PromptTokensDetails(cached) if cached else None
        )

    def openai_usage(self) -> dict[str, Any]:
        prompt, completion = self.prompt_tokens(), self.output_tokens
        out: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": self.cache_read_input_tokens or 0},
        }
        # As the Anthropic codec reports them (and the Messages surface reads them back).
        if self.cache_read_input_tokens is not None:
            out["cache_read_input_tokens"] = self.cache_read_input_tokens
        if self.cache_write_input_tokens is not None:
            out["cache_creation_input_tokens"] = self.cache_write_input_tokens
        return out


class ConverseResponse(msgspec.Struct, rename="camel"):
    output: Output = msgspec.field(default_factory=Output)
    stop_reason: str = "end_turn"
    usage: BedrockUsage = msgspec.field(default_factory=BedrockUsage)


decode_response = msgspec.json.Decoder(ConverseResponse).decode


# ConverseStream events, one struct for the payload of every event type.
class BlockStart(msgspec.Struct, rename="camel"):
    tool_use: ToolUse | None = None


class ReasoningDelta(msgspec.Struct):
    text: str | None = None
    signature: str | None = None


class ToolUseDelta(msgspec.Struct):
    input: str = ""


class BlockDelta(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: ToolUseDelta | None = None
    reasoning_content: ReasoningDelta | None = None


class StreamEvent(msgspec.Struct, rename="camel"):
    content_block_index: int = 0
    start: BlockStart | None = None
    delta: BlockDelta | None = None
    stop_reason: str | None = None
    usage: BedrockUsage | None = None
    # An exception event's payload.
    message: str | None = None


decode_event = msgspec.json.Decoder(StreamEvent).decode

# Converse's stopReason -> OpenAI's finish_reason.
FINISH_REASON = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASON.get(stop_reason or "end_turn", "stop")
