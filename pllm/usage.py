"""Token usage read from upstream replies without decoding anything else."""

from __future__ import annotations

import msgspec


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class _ReplyProbe(msgspec.Struct):
    usage: Usage | None = None


_reply_decoder = msgspec.json.Decoder(_ReplyProbe)


def usage_of_reply(body: bytes) -> Usage | None:
    """``usage`` of a non-streaming reply; None when absent or the body is not JSON."""
    try:
        return _reply_decoder.decode(body).usage
    except msgspec.DecodeError:
        return None
