"""A cached answer as it is stored (msgpack): the reply in OpenAI's JSON format, when it was
stored and until when it lives, and its usage (for the spend record of a hit)."""

from __future__ import annotations

import msgspec

from pllm.usage import PromptTokensDetails, Usage


class Entry(msgspec.Struct, array_like=True, frozen=True):
    body: bytes
    stored_at: float
    expires_at: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def usage(self) -> Usage:
        details = PromptTokensDetails(self.cached_tokens) if self.cached_tokens else None
        total = self.prompt_tokens + self.completion_tokens
        return Usage(self.prompt_tokens, self.completion_tokens, total, details)


def make_entry(body: bytes, usage: Usage | None, now: float, ttl: float) -> Entry:
    if usage is None:
        return Entry(body, now, now + ttl)
    return Entry(
        body,
        now,
        now + ttl,
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens(),
    )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)


def encode(entry: Entry) -> bytes:
    return _encoder.encode(entry)


def decode(raw: bytes) -> Entry | None:
    """None for bytes that are not an entry (the caller deletes them)."""
    try:
        return _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
