"""Token usage read from upstream replies without decoding anything else."""

from __future__ import annotations

import msgspec


class PromptTokensDetails(msgspec.Struct):
    cached_tokens: int = 0


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    # OpenAI reports prompt-cache hits here; they are part of prompt_tokens, billed lower.
    prompt_tokens_details: PromptTokensDetails | None = None

    @classmethod
    def of_counts(cls, counts: dict[str, int]) -> Usage:
        return cls(counts["prompt_tokens"], counts["completion_tokens"], counts["total_tokens"])

    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return details.cached_tokens if details is not None else 0


class _ReplyProbe(msgspec.Struct):
    usage: Usage | None = None


_reply_decoder = msgspec.json.Decoder(_ReplyProbe)


def usage_of_reply(body: bytes) -> Usage | None:
    """``usage`` of a non-streaming reply; None when absent or the body is not JSON."""
    try:
        return _reply_decoder.decode(body).usage
    except msgspec.DecodeError:
        return None
