"""Gemini translation cost per request and per stream event (pytest-benchmark).

Run with ``make bench-micro``. The inputs match ``test_translate_bench.py``: the same chat
request (system prompt, turns, a tool and a tool round trip); a text reply of the same length
as Gemini sends it; one text event and one function-call event as Gemini streams them (each a
whole ``GenerateContentResponse`` with its running usage).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from benches.micro.test_translate_bench import CHAT_REQUEST
from pllm.providers.gemini import (
    GeminiToOpenAIStream,
    gemini_to_openai_response,
    openai_to_gemini_request,
)

Benchmark = Any

_USAGE = {"promptTokenCount": 120, "candidatesTokenCount": 64, "totalTokenCount": 184}
GEMINI_REPLY = json.dumps(
    {
        "candidates": [
            {
                "content": {"parts": [{"text": "It is sunny in Rome, 24C. " * 8}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
    }
).encode()


def _event(part: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "candidates": [{"content": {"parts": [part], "role": "model"}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 3},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "resp-1",
        }
    ).encode()


TEXT_EVENT = _event({"text": " sunny"})
CALL_EVENT = _event({"functionCall": {"name": "get_weather", "args": {"location": "Rome"}}})


@pytest.mark.benchmark(group="request")
def test_openai_to_gemini_request(benchmark: Benchmark) -> None:
    payload = msgspec.json.decode(msgspec.json.encode(CHAT_REQUEST), type=dict[str, Any])
    benchmark(lambda: msgspec.json.encode(openai_to_gemini_request(payload, "gemini-2.5-flash")))


@pytest.mark.benchmark(group="response")
def test_gemini_to_openai_response(benchmark: Benchmark) -> None:
    benchmark(gemini_to_openai_response, GEMINI_REPLY, "gemini-2.5-flash")


@pytest.mark.benchmark(group="chunk")
def test_gemini_text_event_to_openai_chunk(benchmark: Benchmark) -> None:
    t = GeminiToOpenAIStream("gemini-2.5-flash", include_usage=True)
    t.feed(TEXT_EVENT)
    benchmark(t.feed, TEXT_EVENT)


@pytest.mark.benchmark(group="chunk")
def test_gemini_call_event_to_openai_chunk(benchmark: Benchmark) -> None:
    t = GeminiToOpenAIStream("gemini-2.5-flash", include_usage=True)
    t.feed(TEXT_EVENT)
    benchmark(t.feed, CALL_EVENT)
