"""Token usage read from upstream replies without decoding anything else."""

from __future__ import annotations

import msgspec


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class _ReplyProbe(msgspec.Struct):
    usage: Usage | None = None


class _ChunkProbe(msgspec.Struct):
    choices: list[msgspec.Raw] = []
    usage: Usage | None = None


_reply_decoder = msgspec.json.Decoder(_ReplyProbe)
_chunk_decoder = msgspec.json.Decoder(_ChunkProbe)


def usage_of_reply(body: bytes) -> Usage | None:
    """``usage`` of a non-streaming reply; None when absent or the body is not JSON."""
    try:
        return _reply_decoder.decode(body).usage
    except msgspec.DecodeError:
        return None


def usage_of_chunk(data: bytes) -> tuple[Usage | None, bool]:
    """(usage, is_usage_only) for one stream chunk. ``is_usage_only`` marks the extra chunk
    that ``stream_options.include_usage`` adds (empty ``choices``, a ``usage`` object)."""
    # Most chunks carry no usage or `"usage":null`; only an object is worth decoding.
    at = data.find(b'"usage"')
    if at < 0 or data[at + 7 : at + 16].lstrip(b" :").startswith(b"null"):
        return None, False
    try:
        probe = _chunk_decoder.decode(data)
    except msgspec.DecodeError:
        return None, False
    return probe.usage, probe.usage is not None and not probe.choices
