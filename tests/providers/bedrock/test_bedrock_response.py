"""Converse replies -> OpenAI chat completions, Bedrock errors -> gateway errors, and the
embedding models' InvokeModel bodies both ways, against AWS's documented shapes."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from pllm.errors import GatewayError
from pllm.providers.bedrock import (
    bedrock_error,
    bedrock_to_openai_embeddings,
    bedrock_to_openai_response,
    map_bedrock_error,
    openai_to_bedrock_embeddings_request,
)
from tests.fakes.bedrock_wire import (
    converse_reply,
    error_headers,
    reasoning_block,
    text_block,
    tool_use_block,
    usage,
)

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def translate(reply: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    body, use = bedrock_to_openai_response(
        json.dumps(reply).encode(), MODEL, response_id="chatcmpl-1", created=7
    )
    return json.loads(body), use


def test_a_text_reply() -> None:
    out, use = translate(converse_reply([text_block("Hello")], "end_turn", usage(10, 2)))
    assert out == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 7,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }
    assert (use.prompt_tokens, use.completion_tokens, use.total_tokens) == (10, 2, 12)
    assert use.prompt_tokens_details is None


def test_tool_use_reasoning_and_cache_tokens() -> None:
    reply = converse_reply(
        [
            reasoning_block("Think", "sig=="),
            text_block("Let me check."),
            tool_use_block("tooluse_a", "get_weather", {"location": "Paris", "n": [1, 2]}),
        ],
        "tool_use",
        usage(3, 20, cache_read=100, cache_write=50),
    )
    out, use = translate(reply)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me check."
    assert message["reasoning_content"] == "Think"
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Think", "signature": "sig=="}
    ]
    [call] = message["tool_calls"]
    assert call["id"] == "tooluse_a" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "Paris", "n": [1, 2]}
    assert out["usage"] == {
        "prompt_tokens": 153,
        "completion_tokens": 20,
        "total_tokens": 173,
        "prompt_tokens_details": {"cached_tokens": 100},
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 50,
    }
    assert use.prompt_tokens == 153 and use.cached_tokens() == 100


def test_a_tool_only_reply_has_null_content() -> None:
    out, _ = translate(converse_reply([tool_use_block("t", "f", {})], "tool_use", usage(1, 1)))
    assert out["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    out, _ = translate(converse_reply([text_block("x")], stop, usage(1, 1)))
    assert out["choices"][0]["finish_reason"] == finish


def test_a_body_that_is_not_a_reply_raises() -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        bedrock_to_openai_response(b"<html>", MODEL)
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        bedrock_to_openai_response(b'{"output": 3}', MODEL)


def _error(status: int, kind: str | None, message: str) -> GatewayError:
    headers = error_headers(kind) if kind else {}
    return map_bedrock_error(status, headers, json.dumps({"message": message}).encode())


@pytest.mark.parametrize(
    ("status", "kind", "expect", "retryable"),
    [
        (429, "ThrottlingException", 429, True),
        (400, "ValidationException", 400, False),
        (403, "AccessDeniedException", 403, True),
        (403, "UnrecognizedClientException", 401, True),
        (403, "InvalidSignatureException", 401, True),
        (429, "ModelNotReadyException", 503, True),
        (503, "ServiceUnavailableException", 503, True),
        (500, "InternalServerException", 500, True),
        (424, "ModelErrorException", 502, True),
        (408, "ModelTimeoutException", 504, True),
        (404, "ResourceNotFoundException", 404, False),
        (502, None, 502, True),
        (418, "SomethingNewException", 418, False),
    ],
)
def test_error_types(status: int, kind: str | None, expect: int, retryable: bool) -> None:
    e = _error(status, kind, "boom")
    assert (e.status, e.retryable, e.message) == (expect, retryable, "boom")
    assert e.code == (kind or "upstream_error")


@pytest.mark.parametrize(
    "message",
    [
        "Input is too long for requested model.",
        "The model returned the following errors: prompt is too long: 210000 tokens > 200000",
        "Too many input tokens. Max input tokens: 8192, request input token count: 9000",
    ],
)
def test_a_prompt_over_the_context_window_is_context_length_exceeded(message: str) -> None:
    e = _error(400, "ValidationException", message)
    assert e.code == "context_length_exceeded" and e.status == 400


def test_error_bodies_without_message() -> None:
    e = map_bedrock_error(500, {}, b"upstream fell over")
    assert e.status == 500 and "upstream fell over" in e.message and e.retryable
    e = map_bedrock_error(403, error_headers("AccessDeniedException"), b'{"Message": "denied"}')
    assert e.message == "denied"


def test_in_stream_exception_names_read_as_the_http_types() -> None:
    e = bedrock_error("throttlingException", "slow down")
    assert (e.status, e.code, e.retryable) == (429, "ThrottlingException", True)
    e = bedrock_error("modelStreamErrorException", "model failed")
    assert e.status == 502 and e.retryable


def test_titan_embeddings() -> None:
    model = "amazon.titan-embed-text-v2:0"
    body = openai_to_bedrock_embeddings_request({"input": "hello", "dimensions": 256}, model)
    assert body == {"inputText": "hello", "dimensions": 256}
    assert openai_to_bedrock_embeddings_request(
        {"input": ["hello"]}, "amazon.titan-embed-text-v1"
    ) == {"inputText": "hello"}
    with pytest.raises(GatewayError):
        openai_to_bedrock_embeddings_request({"input": ["a", "b"]}, model)
    with pytest.raises(GatewayError):
        openai_to_bedrock_embeddings_request({"input": [[1, 2]]}, model)
    reply = json.dumps({"embedding": [0.5, -1.0], "inputTextTokenCount": 3}).encode()
    out, use = bedrock_to_openai_embeddings(reply, {"input": "hello"}, model)
    assert json.loads(out) == {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}],
        "model": model,
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
    assert use.prompt_tokens == 3
    b64, _ = bedrock_to_openai_embeddings(reply, {"input": "x", "encoding_format": "base64"}, model)
    assert json.loads(b64)["data"][0]["embedding"] == "AAAAPwAAgL8="


def test_cohere_embeddings() -> None:
    model = "cohere.embed-english-v3"
    body = openai_to_bedrock_embeddings_request(
        {"input": ["a", "bb"], "input_type": "search_query", "dimensions": 8}, model
    )
    assert body == {"texts": ["a", "bb"], "input_type": "search_query"}
    v4 = openai_to_bedrock_embeddings_request(
        {"input": "a", "dimensions": 256}, "cohere.embed-v4:0"
    )
    assert v4 == {"texts": ["a"], "input_type": "search_document", "output_dimension": 256}
    for reply in (
        {"id": "1", "embeddings": [[1.0], [2.0]], "texts": ["a", "bb"]},
        {"id": "1", "embeddings": {"float": [[1.0], [2.0]]}, "response_type": "embeddings_by_type"},
    ):
        out, use = bedrock_to_openai_embeddings(
            json.dumps(reply).encode(), {"input": ["a", "bb"]}, model
        )
        assert [d["embedding"] for d in json.loads(out)["data"]] == [[1.0], [2.0]]
        assert use.prompt_tokens == 2  # estimated: about four characters a token
