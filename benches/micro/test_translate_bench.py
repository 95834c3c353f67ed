"""Translation cost per request and per stream chunk (pytest-benchmark).

Not part of the normal test run (``testpaths`` is ``tests``); run with ``make bench-micro``.
The inputs are realistic: a chat request with a system prompt, a few turns, a tool and a tool
round trip; a text reply (the OpenAI one as the fake upstream sends it); one text delta event,
one tool-argument delta event.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from pllm.providers.anthropic import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
)
from tests.fakes.openai_wire import chat_completion, token_usage

Benchmark = Any

CHAT_REQUEST: dict[str, Any] = {
    "model": "claude",
    "max_tokens": 512,
    "temperature": 0.3,
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. " * 10},
        {"role": "user", "content": "What is the weather in Paris? " * 5},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
        {"role": "user", "content": "Thanks. And in Rome?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            },
        }
    ],
}
ANTHROPIC_REPLY = json.dumps(
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "It is sunny in Rome, 24C. " * 8}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 120, "output_tokens": 64, "cache_read_input_tokens": 0},
    }
).encode()
OPENAI_REPLY = json.dumps(
    chat_completion("chatcmpl-1", 1, "gpt-4o", "It is sunny in Rome. " * 8, token_usage(120, 64))
).encode()
TEXT_DELTA = (
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" sunny"}}'
)
JSON_DELTA = (
    b'{"type":"content_block_delta","index":1,'
    b'"delta":{"type":"input_json_delta","partial_json":"{\\"location\\": \\"Ro"}}'
)
OPENAI_TEXT_CHUNK = (
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
    b'"choices":[{"index":0,"delta":{"content":" sunny"},"finish_reason":null}]}'
)
MESSAGE_START = (
    b'{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":120,"output_tokens":1}}}'
)


def _fresh() -> dict[str, Any]:
    return msgspec.json.decode(msgspec.json.encode(CHAT_REQUEST), type=dict[str, Any])


@pytest.mark.benchmark(group="request")
def test_openai_to_anthropic_request(benchmark: Benchmark) -> None:
    payload = _fresh()
    benchmark(lambda: msgspec.json.encode(openai_to_anthropic_request(payload, "claude-x")))


@pytest.mark.benchmark(group="request")
def test_anthropic_to_openai_request(benchmark: Benchmark) -> None:
    payload = openai_to_anthropic_request(_fresh(), "claude-x")
    benchmark(lambda: msgspec.json.encode(anthropic_to_openai_request(payload, "gpt")))


@pytest.mark.benchmark(group="response")
def test_anthropic_to_openai_response(benchmark: Benchmark) -> None:
    benchmark(anthropic_to_openai_response, ANTHROPIC_REPLY)


@pytest.mark.benchmark(group="response")
def test_openai_to_anthropic_response(benchmark: Benchmark) -> None:
    benchmark(openai_to_anthropic_response, OPENAI_REPLY, "gpt")


@pytest.mark.benchmark(group="chunk")
def test_anthropic_text_delta_to_openai_chunk(benchmark: Benchmark) -> None:
    t = AnthropicToOpenAIStream(include_usage=True)
    t.feed("message_start", MESSAGE_START)
    benchmark(t.feed, "content_block_delta", TEXT_DELTA)


@pytest.mark.benchmark(group="chunk")
def test_anthropic_json_delta_to_openai_chunk(benchmark: Benchmark) -> None:
    t = AnthropicToOpenAIStream(include_usage=True)
    t.feed("message_start", MESSAGE_START)
    benchmark(t.feed, "content_block_delta", JSON_DELTA)


@pytest.mark.benchmark(group="chunk")
def test_openai_text_chunk_to_anthropic_event(benchmark: Benchmark) -> None:
    t = OpenAIToAnthropicStream("gpt")
    t.feed(OPENAI_TEXT_CHUNK)
    benchmark(t.feed, OPENAI_TEXT_CHUNK)
