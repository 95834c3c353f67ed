"""Anthropic replies, streams and errors -> OpenAI, on fixtures from Anthropic's docs."""

from __future__ import annotations

import json
from typing import Any

import pytest

import pllm_accel
from pllm.providers.anthropic import AnthropicToOpenAIStream, anthropic_to_openai_response
from pllm.providers.anthropic.codec import map_anthropic_error
from pllm.usage import PromptTokensDetails, Usage
from tests.fakes.anthropic_wire import (
    ERROR_TYPES,
    error_body,
    message,
    stream_events,
    text_block,
    tool_use_block,
    usage,
)

TOOL_MSG = message(
    "msg_01",
    "claude-sonnet-4-5",
    [
        text_block("Let me check."),
        tool_use_block("toolu_01", "get_weather", {"location": "Paris"}),
    ],
    "tool_use",
    usage(20, 30, cache_read=100, cache_creation=5),
)


def test_text_reply() -> None:
    msg = message("msg_1", "claude-x", [text_block("Hi!")], "end_turn", usage(10, 3))
    body, use = anthropic_to_openai_response(json.dumps(msg).encode())
    out = json.loads(body)
    assert out["object"] == "chat.completion"
    assert out["id"] == "msg_1" and out["model"] == "claude-x"
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi!"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert out["usage"]["prompt_tokens"] == 10 and out["usage"]["completion_tokens"] == 3
    assert use == Usage(10, 3, 13)


def test_tool_use_reply_with_cache_usage() -> None:
    body, use = anthropic_to_openai_response(json.dumps(TOOL_MSG).encode())
    out = json.loads(body)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "Paris"}
    # Cached tokens count as prompt tokens, as OpenAI reports them.
    assert out["usage"]["prompt_tokens"] == 125
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 100}
    assert out["usage"]["cache_read_input_tokens"] == 100
    assert out["usage"]["cache_creation_input_tokens"] == 5
    assert use == Usage(125, 30, 155, PromptTokensDetails(100))  # cache reads are billed lower


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    msg = message("m", "c", [text_block("x")], stop, usage(1, 1))
    body, _ = anthropic_to_openai_response(json.dumps(msg).encode())
    assert json.loads(body)["choices"][0]["finish_reason"] == finish


def translate_stream(
    frames: list[bytes], include_usage: bool = True
) -> tuple[list[Any], AnthropicToOpenAIStream]:
    parser = pllm_accel.SseParser()
    t = AnthropicToOpenAIStream(include_usage=include_usage, created=1)
    out = b"".join(t.feed(e.event, e.data) for e in parser.feed(b"".join(frames)))
    chunks: list[Any] = []
    for line in out.split(b"\n\n"):
        if line:
            assert line.startswith(b"data: ")
            payload = line[6:]
            chunks.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return chunks, t


def test_stream_of_text_and_tool_call() -> None:
    frames = stream_events(TOOL_MSG, [["Let", " me check."], ["", '{"location":', ' "Paris"}']])
    chunks, t = translate_stream(frames)
    assert chunks[-1] == "[DONE]"
    body = [c for c in chunks[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "msg_01" for c in body)
    deltas = [c["choices"][0]["delta"] for c in body if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == "Let me check."
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert "".join(c["function"]["arguments"] for c in calls) == '{"location": "Paris"}'
    finishes = [c["choices"][0]["finish_reason"] for c in body if c["choices"]]
    assert finishes[-1] == "tool_calls" and all(f is None for f in finishes[:-1])
    usage_chunk = body[-1]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["prompt_tokens"] == 125
    assert usage_chunk["usage"]["completion_tokens"] == 30
    assert t.done and t.failure is None and t.usage == Usage(125, 30, 155, PromptTokensDetails(100))


def test_stream_without_include_usage_has_no_usage_chunk_but_records_usage() -> None:
    frames = stream_events(TOOL_MSG, [["x"], ["{}"]])
    chunks, t = translate_stream(frames, include_usage=False)
    assert all("usage" not in c for c in chunks[:-1])
    assert t.usage == Usage(125, 30, 155, PromptTokensDetails(100))


def test_stream_error_event_becomes_an_openai_error_frame() -> None:
    frames = [
        *stream_events(TOOL_MSG, [["x"], ["{}"]])[:3],
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
    ]
    chunks, t = translate_stream(frames)
    assert chunks[-1] == {
        "error": {
            "message": "Overloaded",
            "type": "api_error",
            "param": None,
            "code": "overloaded_error",
        }
    }
    assert not t.done and t.failure is not None and t.failure.retryable


@pytest.mark.parametrize("status", sorted(ERROR_TYPES))
def test_error_replies_map_to_openai_errors(status: int) -> None:
    err = map_anthropic_error(
        status,
        {"retry-after": "3", "request-id": "req_1"},
        json.dumps(error_body(status, "boom")).encode(),
    )
    assert err.message == "boom"
    assert err.code == ERROR_TYPES[status]
    assert err.status == (503 if status == 529 else status)
    assert err.retryable is (status in (429, 504, 529))
    assert ("retry-after", "3") in err.headers
    body = json.loads(err.body())
    assert body["error"]["message"] == "boom"


def test_non_json_error_reply() -> None:
    err = map_anthropic_error(502, {}, b"<html>bad gateway</html>")
    assert err.status == 502 and "bad gateway" in err.message
