"""Chat completion reply -> Responses object, and the pass-through's usage."""

from __future__ import annotations

import json
from typing import Any

from pllm.providers.codec import COMPLETE
from pllm.providers.openai.responses import ResponsesPassThrough, responses_usage
from pllm.providers.responses.response_from_chat import chat_to_responses_response
from pllm.usage import PromptTokensDetails, Usage


def reply(message: dict[str, Any], finish: str = "stop", **extra: Any) -> bytes:
    body = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "up",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 3},
        },
        **extra,
    }
    return json.dumps(body).encode()


def test_text_reply() -> None:
    body, usage = chat_to_responses_response(reply({"content": "Hi there"}), "alias")
    assert json.loads(body) == {
        "id": "resp_abc",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": "alias",
        "output": [
            {
                "id": "msg_abc_0",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hi there", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 0},
            "output_tokens": 4,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 14,
        },
    }
    assert usage == Usage(10, 4, 14, PromptTokensDetails(3))


def test_tool_calls_reply() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": '{"c":"P"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "t", "arguments": "{}"}},
    ]
    body, _ = chat_to_responses_response(
        reply({"content": None, "tool_calls": calls}, "tool_calls"), "m"
    )
    out = json.loads(body)
    assert out["status"] == "completed"
    assert out["output"] == [
        {
            "id": "fc_call_1",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": "w",
            "arguments": '{"c":"P"}',
        },
        {
            "id": "fc_call_2",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_2",
            "name": "t",
            "arguments": "{}",
        },
    ]


def test_length_is_incomplete() -> None:
    body, _ = chat_to_responses_response(reply({"content": "Hi"}, "length"), "m")
    out = json.loads(body)
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}


def test_passthrough_usage() -> None:
    body = {
        "id": "resp_1",
        "object": "response",
        "usage": {
            "input_tokens": 36,
            "input_tokens_details": {"cached_tokens": 6},
            "output_tokens": 87,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 123,
        },
    }
    assert responses_usage(json.dumps(body).encode()) == Usage(36, 87, 123, PromptTokensDetails(6))
    assert responses_usage(b'{"id":"resp_1"}') is None
    assert responses_usage(b"not json") is None


class _Event:
    def __init__(self, event: str, data: bytes) -> None:
        self.event, self.data = event, data


class _Batch:
    def __init__(self, *events: _Event) -> None:
        self.events = list(events)
        self.out = b"".join(
            b"event: " + e.event.encode() + b"\ndata: " + e.data + b"\n\n" for e in events
        )

    def __bool__(self) -> bool:
        return bool(self.events)


def test_passthrough_stream_reads_the_terminal_events() -> None:
    completed = {
        "type": "response.completed",
        "response": {"usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}},
    }
    t = ResponsesPassThrough("d")
    batch = _Batch(_Event("response.completed", json.dumps(completed).encode()))
    assert t.feed(batch) == batch.out  # the bytes as they came
    assert t.usage(None) == Usage(5, 2, 7)  # type: ignore[arg-type]
    assert t.finish(None) == COMPLETE  # type: ignore[arg-type]

    failed = ResponsesPassThrough("d")
    failed.feed(_Batch(_Event("error", b'{"type":"error","code":"server_error"}')))
    assert failed.finish(None).relayed_error == "upstream_error"  # type: ignore[arg-type]

    cut = ResponsesPassThrough("d")
    cut.feed(_Batch())
    ending = cut.finish(None)  # type: ignore[arg-type]
    assert ending.failure is not None and ending.failure.code == "upstream_truncated"
