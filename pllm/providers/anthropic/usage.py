"""Token usage between the two formats.

Anthropic's ``input_tokens`` excludes cached prompt tokens, which it reports apart
(``cache_read_input_tokens``, ``cache_creation_input_tokens``); OpenAI's ``prompt_tokens``
includes them (``prompt_tokens_details.cached_tokens`` are the cache reads). The gateway
records the OpenAI reading, so a prompt costs the same tokens whichever surface served it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pllm.usage import PromptTokensDetails, Usage


class AnthropicUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

    def merge(self, later: AnthropicUsage) -> None:
        """Takes the fields a later report (``message_delta``) sets; counts are cumulative."""
        for name in self.__struct_fields__:
            value = getattr(later, name)
            if value is not None:
                setattr(self, name, value)

    def prompt_tokens(self) -> int:
        return (
            (self.input_tokens or 0)
            + (self.cache_read_input_tokens or 0)
            + (self.cache_creation_input_tokens or 0)
        )

    def gateway_usage(self) -> Usage:
        prompt, completion = self.prompt_tokens(), self.output_tokens or 0
        cached = self.cache_read_input_tokens
        details = PromptTokensDetails(cached) if cached else None
        return Usage(prompt, completion, prompt + completion, details)

    def openai_usage(self) -> dict[str, Any]:
        prompt, completion = self.prompt_tokens(), self.output_tokens or 0
        out: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": self.cache_read_input_tokens or 0},
        }
        if self.cache_read_input_tokens is not None:
            out["cache_read_input_tokens"] = self.cache_read_input_tokens
        if self.cache_creation_input_tokens is not None:
            out["cache_creation_input_tokens"] = self.cache_creation_input_tokens
        return out


class _Details(msgspec.Struct):
    cached_tokens: int | None = None


class OpenAIUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int | None = None
    prompt_tokens_details: _Details | None = None
    cache_creation_input_tokens: int | None = None

    def gateway_usage(self) -> Usage:
        total = self.total_tokens
        if total is None:
            total = self.prompt_tokens + self.completion_tokens
        cached = self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else None
        details = PromptTokensDetails(cached) if cached else None
        return Usage(self.prompt_tokens, self.completion_tokens, total, details)

    def anthropic_usage(self) -> dict[str, int]:
        cached = self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else None
        created = self.cache_creation_input_tokens or 0
        out = {
            "input_tokens": max(self.prompt_tokens - (cached or 0) - created, 0),
            "output_tokens": self.completion_tokens,
        }
        if cached:
            out["cache_read_input_tokens"] = cached
        if created:
            out["cache_creation_input_tokens"] = created
        return out
