"""Property tests: any chunking of a ConverseStream body (framed by the native decoder,
``pllm_accel.EventStreamParser``) gives the same OpenAI chunks, which add up to the
non-streaming translation of the same reply; a flipped bit anywhere in the frames is an error,
never other chunks; an assistant turn translated to OpenAI and sent back is the Converse turn
it came from, and passes the fake runtime's checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pllm_accel
from pllm.providers.bedrock import (
    BedrockToOpenAIStream,
    bedrock_to_openai_response,
    openai_to_bedrock_request,
)
from tests.fakes.bedrock_upstream import check_converse
from tests.fakes.bedrock_wire import (
    converse_reply,
    event_frame,
    exception_frame,
    reasoning_block,
    stream_events,
    stream_frames,
    text_block,
    tool_use_block,
    usage,
)

ident = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ident, inner, max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(ident, json_value, max_size=4)
words = st.lists(
    st.text(min_size=1, max_size=8).filter(lambda w: " " not in w and w.strip()),
    min_size=1,
    max_size=5,
)


@st.composite
def replies(draw: st.DrawFn) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if draw(st.booleans()):
        blocks.append(reasoning_block(" ".join(draw(words)), draw(ident)))
    for n in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            blocks.append(text_block(" ".join(draw(words))))
        else:
            blocks.append(tool_use_block(f"tooluse_{n}", draw(ident), draw(arguments)))
    stop = draw(st.sampled_from(["end_turn", "tool_use", "max_tokens", "guardrail_intervened"]))
    cache = draw(st.none() | st.integers(0, 99))
    use = usage(draw(st.integers(0, 999)), draw(st.integers(0, 999)), cache_read=cache)
    return converse_reply(blocks, stop, use)


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[start:p])
        start = p
    return pieces


def _translate(pieces: list[bytes], include_usage: bool) -> tuple[bytes, BedrockToOpenAIStream]:
    parser = pllm_accel.EventStreamParser()
    t = BedrockToOpenAIStream("m", include_usage=include_usage, created=7, response_id="r")
    out = b"".join(t.feed(e.event, e.data) for piece in pieces for e in parser.feed(piece))
    assert not parser.has_pending()
    return out, t


@settings(max_examples=200, deadline=None)
@given(replies(), st.lists(st.integers(0, 6000), max_size=30), st.booleans())
def test_any_chunking_of_a_converse_stream_gives_the_same_openai_chunks(
    full: dict[str, Any], cuts: list[int], include_usage: bool
) -> None:
    data = stream_frames(full)
    whole, t_whole = _translate([data], include_usage)
    split, t_split = _translate(_splits(data, cuts), include_usage)
    assert split == whole
    assert t_whole.done and t_split.done and t_split.usage == t_whole.usage
    # The chunks add up to the non-streaming translation of the same reply.
    out = json.loads(
        bedrock_to_openai_response(json.dumps(full).encode(), "m", response_id="r", created=7)[0]
    )
    frames = [f for f in whole.split(b"\n\n") if f]
    assert frames[-1] == b"data: [DONE]"
    chunks = [json.loads(f[6:]) for f in frames[:-1]]
    assert all(c["id"] == "r" and c["model"] == "m" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    message = out["choices"][0]["message"]
    assert "".join(d.get("content") or "" for d in deltas) == (message["content"] or "")
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == message.get(
        "reasoning_content", ""
    )
    calls: dict[int, dict[str, Any]] = {}
    for d in deltas:
        for tc in d.get("tool_calls", []):
            call = calls.setdefault(tc["index"], {"arguments": ""})
            call.update({k: tc[k] for k in ("id", "type") if k in tc})
            call["name"] = tc["function"].get("name", call.get("name"))
            call["arguments"] += tc["function"]["arguments"]
    expected = message.get("tool_calls", [])
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in expected
    ]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == out["choices"][0]["finish_reason"]
    assert all(f is None for f in finishes[:-1])
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == out["usage"]
    else:
        assert all("usage" not in c for c in chunks)


@settings(max_examples=100, deadline=None)
@given(replies(), st.integers(0, 10**6), st.integers(0, 7), st.lists(st.integers(0, 6000)))
def test_a_flipped_bit_is_a_clear_error_never_other_chunks(
    full: dict[str, Any], at: int, bit: int, cuts: list[int]
) -> None:
    data = bytearray(stream_frames(full))
    data[at % len(data)] ^= 1 << bit
    parser = pllm_accel.EventStreamParser()
    with pytest.raises(ValueError, match="malformed event stream"):
        for piece in _splits(bytes(data), cuts):
            parser.feed(piece)


def test_an_exception_frame_is_one_terminal_error_event() -> None:
    reply = converse_reply([text_block("Hello there")], "end_turn", usage(1, 2))
    first = [event_frame(name, payload) for name, payload in stream_events(reply)[:2]]
    body = b"".join(first) + exception_frame("throttlingException", "Too many tokens")
    parser = pllm_accel.EventStreamParser()
    events = [e for piece in _splits(body, [7, 99, 200]) for e in parser.feed(piece)]
    assert events[-1].event == "exception:throttlingException"
    t = BedrockToOpenAIStream("m", include_usage=True)
    out = b"".join(t.feed(e.event, e.data) for e in events)
    assert t.failure is not None and t.failure.status == 429
    assert t.failure.code == "ThrottlingException" and t.failure.message == "Too many tokens"
    assert out.endswith(b"data: " + t.failure.body() + b"\n\n")
    assert out.count(b'"error"') == 1 and not t.done
    # Nothing after it is relayed.
    assert t.feed("contentBlockDelta", b'{"delta":{"text":"more"}}') == b""


@settings(max_examples=100, deadline=None)
@given(replies())
def test_an_assistant_turn_round_trips(full: dict[str, Any]) -> None:
    out = json.loads(bedrock_to_openai_response(json.dumps(full).encode(), "m")[0])
    message = out["choices"][0]["message"]
    assistant = {
        k: message[k] for k in ("content", "tool_calls", "thinking_blocks") if k in message
    }
    assistant["role"] = "assistant"
    payload: dict[str, Any] = {"messages": [{"role": "user", "content": "Q"}, assistant]}
    calls = message.get("tool_calls", [])
    for c in calls:
        payload["messages"].append({"role": "tool", "tool_call_id": c["id"], "content": "ok"})
    body = openai_to_bedrock_request(payload, "anthropic.claude-x")
    assert check_converse(body) is None
    sent = body["messages"][1]["content"]
    original = full["output"]["message"]["content"]
    # Text blocks merge into one (OpenAI has one content string); the rest comes back as is.
    texts = "".join(b["text"] for b in original if "text" in b)
    assert [b for b in sent if "text" in b] == ([{"text": texts}] if texts else [])
    assert [b for b in sent if "text" not in b] == [b for b in original if "text" not in b]
