"""Gemini replies, stream events, errors and embeddings -> OpenAI, from the shapes of Google's
API reference (GenerateContentResponse, usageMetadata, promptFeedback, the error object)."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from pllm.providers.gemini import (
    GeminiToOpenAIStream,
    gemini_to_openai_embeddings,
    gemini_to_openai_response,
    map_google_error,
    openai_to_gemini_embeddings_request,
)
from pllm.providers.gemini.embeddings import (
    openai_to_vertex_embeddings_request,
    vertex_to_openai_embeddings,
)
from pllm.usage import PromptTokensDetails, Usage
from tests.fakes.gemini_wire import (
    candidate,
    error_body,
    function_call_part,
    reply,
    sse,
    stream_events,
    text_part,
    usage_metadata,
)


def openai(body: dict[str, Any], **kw: Any) -> tuple[dict[str, Any], Usage]:
    out, usage = gemini_to_openai_response(
        json.dumps(body).encode(), "gemini-x", id_prefix="p", created=1, **kw
    )
    return json.loads(out), usage


def test_text_reply_with_thoughts_and_usage() -> None:
    body = reply(
        [
            candidate(
                [text_part("Let me think.", thought=True), text_part("Hello"), text_part(" there")]
            )
        ],
        usage_metadata(10, 2, cached=4, thoughts=3),
        "resp-1",
    )
    out, usage = openai(body)
    assert out == {
        "id": "chatcmpl-resp-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gemini-fake-001",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello there",
                    "reasoning_content": "Let me think.",
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3},
        },
    }
    assert usage == Usage(10, 5, 15, PromptTokensDetails(4))


def test_function_calls_finish_with_tool_calls_and_carry_signatures() -> None:
    body = reply(
        [
            candidate(
                [
                    text_part("Checking."),
                    function_call_part("get_weather", {"location": "Paris"}, "c2ln"),
                    function_call_part("get_time", {}),
                ]
            )
        ],
        usage_metadata(5, 9),
    )
    out, _ = openai(body)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"location": "Paris"}
    assert calls[0]["id"] == "call_p_0_0__thought__c2ln"
    assert calls[1]["id"] == "call_p_0_1"
    assert calls[1]["function"]["arguments"] == "{}"


def test_calls_without_text_have_null_content() -> None:
    out, _ = openai(reply([candidate([function_call_part("f", {"a": 1})])], usage_metadata(1, 1)))
    assert out["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    out, _ = openai(reply([candidate([text_part("x")], reason)], usage_metadata(1, 1)))
    assert out["choices"][0]["finish_reason"] == finish


def test_a_blocked_prompt_is_a_content_filter_choice() -> None:
    body = reply([], usage_metadata(7, 0), prompt_feedback={"blockReason": "SAFETY"})
    out, usage = openai(body)
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None},
            "logprobs": None,
            "finish_reason": "content_filter",
        }
    ]
    assert usage.prompt_tokens == 7


def test_candidates_are_choices_and_images_come_back() -> None:
    image = {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}}
    body = reply(
        [candidate([text_part("a")], index=0), candidate([image], index=1)], usage_metadata(1, 2)
    )
    out, _ = openai(body)
    assert [c["index"] for c in out["choices"]] == [0, 1]
    assert out["choices"][1]["message"] == {
        "role": "assistant",
        "content": None,
        "images": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}],
    }


def test_model_name_when_gemini_names_none() -> None:
    body = {"candidates": [candidate([text_part("x")])]}
    out, usage = openai(body)
    assert out["model"] == "gemini-x" and out["id"] == "chatcmpl-p"
    assert usage == Usage(0, 0, 0)


# --- streams ---------------------------------------------------------------------------------


def frames(events: list[dict[str, Any]], **kw: Any) -> tuple[list[Any], GeminiToOpenAIStream]:
    t = GeminiToOpenAIStream("gemini-x", created=1, id_prefix="p", **kw)
    out = b"".join(t.feed(json.dumps(e).encode()) for e in events)
    assert out.endswith(b"\n\n") or not out
    parsed = [f.removeprefix(b"data: ").decode() for f in out.split(b"\n\n") if f]
    return [p if p == "[DONE]" else json.loads(p) for p in parsed], t


def test_stream_of_text_and_a_call_with_usage_chunk() -> None:
    full = reply(
        [candidate([text_part("Hi there"), function_call_part("f", {"a": 1})])],
        usage_metadata(4, 3, thoughts=2),
        "r1",
    )
    out, t = frames(stream_events(full), include_usage=True)
    assert out[-1] == "[DONE]" and t.done
    chunks = out[:-1]
    assert {c["id"] for c in chunks} == {"chatcmpl-r1"}
    assert {c["model"] for c in chunks} == {"gemini-fake-001"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == "Hi there"
    [call] = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert call == {
        "index": 0,
        "id": "call_p_0_0",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a": 1}'},
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    assert t.usage == Usage(4, 5, 9)


def test_stream_without_usage_chunk_and_thoughts() -> None:
    full = reply(
        [candidate([text_part("hmm", thought=True), text_part("ok")])], usage_metadata(1, 1)
    )
    out, _ = frames(stream_events(full), include_usage=False)
    deltas = [c["choices"][0]["delta"] for c in out[:-1] if c["choices"]]
    assert {"reasoning_content": "hmm"} in deltas and {"content": "ok"} in deltas
    assert all("usage" not in c for c in out[:-1])


def test_two_candidates_one_after_the_other() -> None:
    full = reply(
        [candidate([text_part("a b")], index=0), candidate([text_part("c d")], index=1)],
        usage_metadata(1, 4),
    )
    out, t = frames(stream_events(full), include_usage=False, candidates=2)
    assert out[-1] == "[DONE]" and t.done
    ends = [c["choices"][0] for c in out[:-1] if c["choices"][0]["finish_reason"]]
    assert [c["index"] for c in ends] == [0, 1]


def test_a_usage_only_event_after_the_end_is_counted_not_sent() -> None:
    full = reply([candidate([text_part("a")])], usage_metadata(1, 1))
    late = {"usageMetadata": usage_metadata(1, 6)}
    out, t = frames([*stream_events(full), late], include_usage=True)
    assert out[-1] == "[DONE]"
    assert t.usage == Usage(1, 6, 7)


def test_a_blocked_prompt_stream() -> None:
    blocked = reply([], usage_metadata(3, 0), prompt_feedback={"blockReason": "PROHIBITED_CONTENT"})
    out, t = frames(stream_events(blocked), include_usage=False)
    assert t.done and out[-1] == "[DONE]"
    assert out[-2]["choices"][0]["finish_reason"] == "content_filter"


def test_an_error_event_ends_the_stream() -> None:
    first = stream_events(reply([candidate([text_part("a b")])], usage_metadata(1, 2)))[0]
    out, t = frames([first, error_body(503, "overloaded")], include_usage=False)
    assert t.failure is not None and t.failure.status == 503 and t.failure.code == "UNAVAILABLE"
    assert out[-1]["error"]["message"] == "overloaded"
    assert not t.done


def test_a_stream_cut_before_the_finish_is_not_done() -> None:
    events = stream_events(reply([candidate([text_part("a b c")])], usage_metadata(1, 3)))
    out, t = frames(events[:-1], include_usage=True)
    assert not t.done and "[DONE]" not in out


def test_sse_framing_uses_crlf() -> None:
    assert sse({"a": 1}) == b'data: {"a": 1}\r\n\r\n'


# --- errors ------------------------------------------------------------------------------------


def err(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return map_google_error(status, headers or {}, raw)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, "invalid_request_error", False),
        (403, "permission_error", True),
        (404, "invalid_request_error", False),
        (429, "rate_limit_error", True),
        (500, "api_error", True),
        (503, "api_error", True),
    ],
)
def test_google_errors(status: int, kind: str, retryable: bool) -> None:
    e = err(status, error_body(status, "boom"), {"retry-after": "7", "x-other": "1"})
    assert (e.status, e.type, e.retryable, e.message) == (status, kind, retryable, "boom")
    assert e.code == error_body(status)["error"]["status"]
    assert e.headers == (("retry-after", "7"),)


def test_bad_api_key_is_401() -> None:
    body = error_body(400, "API key not valid.")
    body["error"]["details"] = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
    ]
    e = err(400, body)
    assert (e.status, e.code, e.retryable) == (401, "invalid_api_key", True)


def test_context_window_and_list_shaped_errors() -> None:
    msg = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    e = err(400, [error_body(400, msg)])
    assert e.code == "context_length_exceeded" and e.message == msg


def test_a_body_that_is_not_google_json() -> None:
    e = err(502, b"<html>bad gateway</html>")
    assert e.status == 502 and "bad gateway" in e.message and e.retryable


# --- embeddings --------------------------------------------------------------------------------


def test_batch_embed_request_and_reply() -> None:
    payload = {"model": "e", "input": ["hello world", "x"], "dimensions": 3}
    assert openai_to_gemini_embeddings_request(payload, "gemini-embedding-001") == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "hello world"}]},
                "outputDimensionality": 3,
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "x"}]},
                "outputDimensionality": 3,
            },
        ]
    }
    body = json.dumps(
        {"embeddings": [{"values": [0.5, -1.0, 0.25]}, {"values": [1.0, 0.0, 0.0]}]}
    ).encode()
    out, usage = gemini_to_openai_embeddings(body, payload, "gemini-embedding-001")
    data = json.loads(out)
    assert data["data"][0] == {"object": "embedding", "index": 0, "embedding": [0.5, -1.0, 0.25]}
    assert data["model"] == "gemini-embedding-001"
    assert usage == Usage(4, 0, 4)  # estimated: Google reports no token counts here
    out, _ = gemini_to_openai_embeddings(body, {**payload, "encoding_format": "base64"}, "m")
    packed = base64.b64decode(json.loads(out)["data"][0]["embedding"])
    assert struct.unpack("<3f", packed) == (0.5, -1.0, 0.25)


def test_vertex_predict_request_and_reply() -> None:
    payload = {"model": "e", "input": "hello world"}
    assert openai_to_vertex_embeddings_request(payload) == {
        "instances": [{"content": "hello world"}]
    }
    body = {
        "predictions": [
            {"embeddings": {"values": [0.5], "statistics": {"token_count": 2, "truncated": False}}}
        ]
    }
    out, usage = vertex_to_openai_embeddings(
        json.dumps(body).encode(), payload, "text-embedding-005"
    )
    assert json.loads(out)["data"][0]["embedding"] == [0.5]
    assert usage == Usage(2, 0, 2)


def test_token_inputs_are_refused() -> None:
    from pllm.errors import GatewayError

    with pytest.raises(GatewayError):
        openai_to_gemini_embeddings_request({"model": "e", "input": [1, 2, 3]}, "m")
