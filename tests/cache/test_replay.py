"""A reply replayed as a stream assembles back into the same reply; a stream that errored
or never ended assembles to nothing."""

from __future__ import annotations

import json
from typing import Any

from pllm.cache.replay import StreamCollector, as_stream
from pllm.usage import Usage

CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 7,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "hello there",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a": 1}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        },
        {
            "index": 1,
            "message": {"role": "assistant", "content": "second"},
            "finish_reason": "stop",
        },
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
}
COMPLETION = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 7,
    "model": "m",
    "choices": [{"index": 0, "text": "abc", "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
}


def roundtrip(endpoint: str, reply: dict[str, Any], usage: bool, split: int) -> Any:
    sse = as_stream(endpoint, json.dumps(reply).encode(), usage)
    collector = StreamCollector(endpoint)
    for i in range(0, len(sse), split):  # frames split anywhere
        collector.feed(sse[i : i + split])
    out = collector.reply(None)
    assert out is not None
    return json.loads(out)


def test_chat_roundtrip() -> None:
    for split in (1, 7, 10_000):
        assert roundtrip("chat/completions", CHAT, True, split) == CHAT


def test_completion_roundtrip() -> None:
    assert roundtrip("completions", COMPLETION, True, 5) == COMPLETION


def test_usage_chunk_only_when_asked() -> None:
    body = json.dumps(CHAT).encode()
    assert b'"usage"' not in as_stream("chat/completions", body, False)
    assert as_stream("chat/completions", body, False).endswith(b"data: [DONE]\n\n")
    # Without the usage chunk, the call's usage is written into the stored reply.
    collector = StreamCollector("chat/completions")
    collector.feed(as_stream("chat/completions", body, False))
    out = json.loads(collector.reply(Usage(3, 4, 7)) or b"")
    assert out["usage"]["total_tokens"] == 7


def test_incomplete_or_failed_streams_assemble_to_nothing() -> None:
    sse = as_stream("chat/completions", json.dumps(CHAT).encode(), False)
    cut = StreamCollector("chat/completions")
    cut.feed(sse.removesuffix(b"data: [DONE]\n\n"))
    assert cut.reply(None) is None
    failed = StreamCollector("chat/completions")
    failed.feed(sse[:40] + b'\n\ndata: {"error": {"message": "x"}}\n\ndata: [DONE]\n\n')
    assert failed.reply(None) is None
    garbage = StreamCollector("chat/completions")
    garbage.feed(b"data: {not json\n\ndata: [DONE]\n\n")
    assert garbage.reply(None) is None
