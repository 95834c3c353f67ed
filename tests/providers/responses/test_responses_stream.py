"""Chat stream -> Responses events: a fixture per shape (checked against the ``openai`` SDK's
event types), and properties: any chunking of the upstream stream gives the same events, and
the events assemble into the object the whole reply translates to."""

from __future__ import annotations

import itertools
import json
import typing
from typing import Any

import pydantic
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response, ResponseStreamEvent

import pllm_accel
from pllm.providers.responses.response_from_chat import chat_to_responses_response
from pllm.providers.responses.stream_from_chat import ChatToResponsesStream

# Each event type's model in the SDK, by its ``type``.
_MODELS: dict[str, type[pydantic.BaseModel]] = {
    model.model_fields["type"].annotation.__args__[0]: model
    for model in typing.get_args(typing.get_args(ResponseStreamEvent)[0])
}
USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "up", "choices": [choice], **extra}  # fmt: skip


def frames(chunks: list[dict[str, Any]], usage: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    if usage:
        tail = {**chunk({}), "choices": [], "usage": USAGE}
        out += b"data: " + json.dumps(tail).encode() + b"\n\n"
    return out + b"data: [DONE]\n\n"


def translate(stream: bytes, cuts: list[int] | None = None) -> bytes:
    parser, t = pllm_accel.SseParser(), ChatToResponsesStream("alias")
    bounds = [0, *sorted(cuts or []), len(stream)]
    out = b""
    for a, b in itertools.pairwise(bounds):
        out += b"".join(t.feed(ev.data) for ev in parser.feed(stream[a:b]))
    assert t.done and t.failure is None
    return out


def events(out: bytes) -> list[dict[str, Any]]:
    parsed = []
    for ev in pllm_accel.SseParser().feed(out):
        data = json.loads(ev.data)
        assert ev.event == data["type"]
        _MODELS[data["type"]].model_validate(data)  # the SDK's own shape of each event
        parsed.append(data)
    assert [e["sequence_number"] for e in parsed] == list(range(len(parsed)))
    return parsed


TEXT = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
        chunk({"content": "lo"}), chunk({}, "stop")]  # fmt: skip
TOOLS = [
    chunk({"role": "assistant", "content": "Checking."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                           "function": {"name": "w", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"c":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"P"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                           "function": {"name": "t", "arguments": "{}"}}]}),
    chunk({}, "tool_calls"),
]  # fmt: skip


def test_text_stream_events() -> None:
    got = events(translate(frames(TEXT)))
    assert [e["type"] for e in got] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert got[0]["response"]["status"] == "in_progress"
    assert [e["delta"] for e in got if e["type"] == "response.output_text.delta"] == ["Hel", "lo"]
    assert got[6]["text"] == "Hello" and got[6]["item_id"] == "msg_s1_0"
    final = got[-1]["response"]
    assert final["status"] == "completed"
    assert final["usage"]["input_tokens"] == 7 and final["usage"]["total_tokens"] == 10
    Response.model_validate(final)


def test_tool_stream_events() -> None:
    got = events(translate(frames(TOOLS)))
    kinds = [e["type"] for e in got]
    assert kinds[8:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = [e for e in got if e["type"] == "response.function_call_arguments.done"]
    assert [(d["name"], d["arguments"], d["output_index"]) for d in done] == [
        ("w", '{"c":"P"}', 1),
        ("t", "{}", 2),
    ]
    final = got[-1]["response"]
    assert [item["type"] for item in final["output"]] == [
        "message",
        "function_call",
        "function_call",
    ]
    assert final["output"][1]["call_id"] == "call_a"


def test_length_ends_incomplete() -> None:
    got = events(translate(frames([chunk({"content": "Hi"}), chunk({}, "length")])))
    assert got[-1]["type"] == "response.incomplete"
    assert got[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_error_chunk_is_an_error_event() -> None:
    parser, t = pllm_accel.SseParser(), ChatToResponsesStream("m")
    stream = frames([chunk({"content": "Hi"})], usage=False).replace(
        b"data: [DONE]", b'data: {"error":{"message":"boom","code":"server_error"}}'
    )
    out = b"".join(t.feed(ev.data) for ev in parser.feed(stream))
    last = events(out)[-1]
    assert last["type"] == "error" and last["message"] == "boom"
    assert t.failure is not None and not t.done


# ---------------------------------------------------------------- properties

pieces = st.lists(st.text(min_size=1, max_size=8), min_size=0, max_size=5)
calls = st.lists(
    st.tuples(
        st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.lists(st.text(max_size=6), max_size=3)
    ),
    max_size=3,
)


def whole_and_chunks(
    text: list[str], tools: list[tuple[str, list[str]]], finish: str
) -> tuple[bytes, list[dict[str, Any]]]:
    """The whole chat reply and the stream chunks of the same answer."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": p}) for p in text]
    tool_calls = []
    for i, (name, args) in enumerate(tools):
        call_id = f"call_{i}"
        start = {"index": i, "id": call_id, "type": "function",
                 "function": {"name": name, "arguments": ""}}  # fmt: skip
        chunks.append(chunk({"tool_calls": [start]}))
        chunks += [
            chunk({"tool_calls": [{"index": i, "function": {"arguments": a}}]}) for a in args
        ]
        function = {"name": name, "arguments": "".join(args)}
        tool_calls.append({"index": i, "id": call_id, "type": "function", "function": function})
    chunks.append(chunk({}, finish))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    whole = {"id": "chatcmpl-s1", "object": "chat.completion", "created": 1700000000,
             "model": "up", "choices": [{"index": 0, "message": message, "finish_reason": finish}],
             "usage": USAGE}  # fmt: skip
    return json.dumps(whole).encode(), chunks


@settings(max_examples=150, deadline=None)
@given(
    text=pieces,
    tools=calls,
    finish=st.sampled_from(["stop", "length", "tool_calls"]),
    data=st.data(),
)
def test_any_chunking_same_events_and_same_response(
    text: list[str], tools: list[tuple[str, list[str]]], finish: str, data: st.DataObject
) -> None:
    whole, chunks = whole_and_chunks(text, tools, finish)
    stream = frames(chunks)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    out = translate(stream, cuts)
    assert out == translate(stream)
    got = events(out)
    reply, _ = chat_to_responses_response(whole, "alias")
    expected = json.loads(reply)
    assert got[-1]["response"] == expected
    # The items as the events built them are the reply's.
    assert [e["item"] for e in got if e["type"] == "response.output_item.done"] == expected[
        "output"
    ]
    deltas = "".join(e["delta"] for e in got if e["type"] == "response.output_text.delta")
    assert deltas == "".join(text)


def test_calls_told_apart_by_id_when_their_index_repeats() -> None:
    calls = [
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "w", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "call_b", "function": {"name": "t", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    ]  # fmt: skip
    final = events(translate(frames(calls)))[-1]["response"]
    assert [(i["call_id"], i["name"]) for i in final["output"]] == [
        ("call_a", "w"),
        ("call_b", "t"),
    ]
