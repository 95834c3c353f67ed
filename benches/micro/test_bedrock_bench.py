"""Bedrock translation cost per request and per stream event, and SigV4 signing cost per
request (pytest-benchmark).

Run with ``make bench-micro``. The inputs match ``test_translate_bench.py``: the same chat
request (system prompt, turns, a tool and a tool round trip); a text reply of the same length
as Converse sends it; one text delta and one tool-input delta as ConverseStream sends them
(the binary frame decoded by the native ``EventStreamParser``, benchmarked apart, then the
event translated); the signature of one request (botocore's ``SigV4Auth``, as the codec makes
it) and its native target.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

import pllm_accel
from benches.micro.test_translate_bench import CHAT_REQUEST
from pllm.providers.bedrock import (
    BedrockToOpenAIStream,
    bedrock_to_openai_response,
    openai_to_bedrock_request,
)
from pllm.providers.bedrock.signing import AwsCredentials, SignedTargets, Signer
from pllm.providers.codec import Endpoint, Outgoing
from tests.fakes.bedrock_wire import event_frame

Benchmark = Any

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
URL = f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{MODEL.replace(':', '%3A')}"
BEDROCK_REPLY = json.dumps(
    {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"text": "It is sunny in Rome, 24C. " * 8}],
            }
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 120, "outputTokens": 64, "totalTokens": 184},
        "metrics": {"latencyMs": 420},
    }
).encode()
TEXT_EVENT = json.dumps(
    {"contentBlockIndex": 0, "delta": {"text": " sunny"}, "p": "abcdefghij"}
).encode()
TOOL_EVENT = json.dumps(
    {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"location": "Ro'}}, "p": "abc"}
).encode()
TEXT_FRAME = event_frame("contentBlockDelta", json.loads(TEXT_EVENT))


@pytest.mark.benchmark(group="request")
def test_openai_to_bedrock_request(benchmark: Benchmark) -> None:
    payload = msgspec.json.decode(msgspec.json.encode(CHAT_REQUEST), type=dict[str, Any])
    benchmark(lambda: msgspec.json.encode(openai_to_bedrock_request(payload, MODEL)))


@pytest.mark.benchmark(group="response")
def test_bedrock_to_openai_response(benchmark: Benchmark) -> None:
    benchmark(bedrock_to_openai_response, BEDROCK_REPLY, MODEL)


@pytest.mark.benchmark(group="chunk")
def test_bedrock_text_event_to_openai_chunk(benchmark: Benchmark) -> None:
    t = BedrockToOpenAIStream(MODEL, include_usage=True)
    t.feed("messageStart", b'{"role":"assistant"}')
    benchmark(t.feed, "contentBlockDelta", TEXT_EVENT)


@pytest.mark.benchmark(group="chunk")
def test_bedrock_tool_event_to_openai_chunk(benchmark: Benchmark) -> None:
    t = BedrockToOpenAIStream(MODEL, include_usage=True)
    t.feed("messageStart", b'{"role":"assistant"}')
    start = {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}
    t.feed("contentBlockStart", json.dumps(start).encode())
    benchmark(t.feed, "contentBlockDelta", TOOL_EVENT)


@pytest.mark.benchmark(group="chunk")
def test_eventstream_frame_decode(benchmark: Benchmark) -> None:
    parser = pllm_accel.EventStreamParser()
    benchmark(parser.feed, TEXT_FRAME)


@pytest.mark.benchmark(group="signing")
def test_sigv4_signature_per_request(benchmark: Benchmark) -> None:
    signer = Signer(AwsCredentials("AKIDEXAMPLE", "secret", "token"), "us-east-1")
    body = msgspec.json.encode(openai_to_bedrock_request(CHAT_REQUEST, MODEL))
    benchmark(signer.sign, f"{URL}/converse", body, [("content-type", "application/json")])


@pytest.mark.benchmark(group="signing")
def test_signed_target_per_request(benchmark: Benchmark) -> None:
    """What the resolve hook costs a request: the signature and the native target."""
    import asyncio

    signer = Signer(AwsCredentials("AKIDEXAMPLE", "secret", None), "us-east-1")
    urls = {Endpoint.CHAT: f"{URL}/converse"}
    targets = SignedTargets(urls, {}, [("content-type", "application/json")], signer)
    body = openai_to_bedrock_request(CHAT_REQUEST, MODEL)
    out = Outgoing(Endpoint.CHAT, body, msgspec.json.encode(body), model="m", stream=False)
    loop = asyncio.new_event_loop()
    try:
        benchmark(lambda: loop.run_until_complete(targets(out)))
    finally:
        loop.close()
