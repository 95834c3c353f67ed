"""Token usage read from upstream replies without decoding anything else."""

from __future__ import annotations

from typing import Any

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


def prompt_tokens_estimate(headers: dict[bytes, bytes]) -> int:
    """About four request bytes a token: an upper bound taken before the body is parsed, for
    reservations that are settled with the real usage afterwards."""
    size = headers.get(b"content-length", b"0")
    return int(size) // 4 if size.isdigit() else 0


def reply_cap(payload: dict[str, Any]) -> int | None:
    """The reply's token cap the client set (``max_completion_tokens`` or ``max_tokens``;
    the Responses API's ``max_output_tokens``)."""
    cap = (
        payload.get("max_completion_tokens")
        or payload.get("max_tokens")
        or payload.get("max_output_tokens")
    )
    return cap if isinstance(cap, int) and not isinstance(cap, bool) else None


class _ReplyProbe(msgspec.Struct):
    usage: Usage | None = None


_reply_decoder = msgspec.json.Decoder(_ReplyProbe)


def usage_of_reply(body: bytes) -> Usage | None:
    """``usage`` of a non-streaming reply; None when absent or the body is not JSON."""
    try:
        return _reply_decoder.decode(body).usage
    except msgspec.DecodeError:
        return None
