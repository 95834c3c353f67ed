"""Property tests: any chunking of a Gemini stream (framed by ``pllm_accel.SseParser``) gives
the same OpenAI chunks, which add up to the non-streaming translation of the same reply; an
assistant turn translated to OpenAI and sent back is the Gemini turn it came from (thought
signatures included); the whole chat round trip reaches the fake's checks."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import pllm_accel
from pllm.providers.gemini import (
    GeminiToOpenAIStream,
    gemini_to_openai_response,
    openai_to_gemini_request,
)
from tests.fakes.gemini_upstream import check_gemini
from tests.fakes.gemini_wire import (
    candidate,
    function_call_part,
    reply,
    sse,
    stream_events,
    text_part,
    usage_metadata,
)

ident = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ident, inner, max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(ident, json_value, max_size=4)
words = st.lists(
    st.text(min_size=1, max_size=8).filter(lambda w: " " not in w), min_size=1, max_size=5
)


@st.composite
def parts(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if draw(st.booleans()):
        out.append(text_part(" ".join(draw(words)), thought=True))
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            out.append(text_part(" ".join(draw(words))))
        else:
            signature = draw(st.none() | st.text("abcXYZ0123+/=", min_size=1, max_size=12))
            out.append(function_call_part(draw(ident), draw(arguments), signature))
    return out


@st.composite
def gemini_replies(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 2))
    reason = draw(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY"]))
    candidates = [candidate(draw(parts()), reason, i) for i in range(n)]
    use = usage_metadata(
        draw(st.integers(0, 999)),
        draw(st.integers(0, 999)),
        cached=draw(st.integers(0, 99)),
        thoughts=draw(st.integers(0, 99)),
    )
    return reply(candidates, use, "r-1")


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[start:p])
        start = p
    return pieces


def _translate(
    pieces: list[bytes], include_usage: bool, n: int
) -> tuple[bytes, GeminiToOpenAIStream]:
    parser = pllm_accel.SseParser()
    t = GeminiToOpenAIStream(
        "g", include_usage=include_usage, candidates=n, created=7, id_prefix="p"
    )
    return b"".join(t.feed(e.data) for piece in pieces for e in parser.feed(piece)), t


@settings(max_examples=200, deadline=None)
@given(gemini_replies(), st.lists(st.integers(0, 8000), max_size=30), st.booleans())
def test_any_chunking_of_a_gemini_stream_gives_the_same_openai_chunks(
    full: dict[str, Any], cuts: list[int], include_usage: bool
) -> None:
    n = len(full["candidates"])
    data = b"".join(sse(e) for e in stream_events(full))
    whole, t_whole = _translate([data], include_usage, n)
    split, t_split = _translate(_splits(data, cuts), include_usage, n)
    assert split == whole
    assert t_whole.done and t_split.done and t_split.usage == t_whole.usage
    # The chunks add up to the non-streaming translation of the same reply.
    out = json.loads(gemini_to_openai_response(json.dumps(full).encode(), "g", id_prefix="p")[0])
    chunks = [json.loads(f[6:]) for f in whole.split(b"\n\n") if f and f != b"data: [DONE]"]
    for choice in out["choices"]:
        i = choice["index"]
        deltas = [
            c["choices"][0]["delta"]
            for c in chunks
            if c["choices"] and c["choices"][0]["index"] == i
        ]
        message = choice["message"]
        assert "".join(d.get("content") or "" for d in deltas) == (message["content"] or "")
        assert "".join(d.get("reasoning_content", "") for d in deltas) == message.get(
            "reasoning_content", ""
        )
        calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
        assert [{k: c[k] for k in ("id", "type", "function")} for c in calls] == message.get(
            "tool_calls", []
        )
        finishes = [
            c["choices"][0]["finish_reason"]
            for c in chunks
            if c["choices"] and c["choices"][0]["index"] == i
        ]
        assert finishes[-1] == choice["finish_reason"]
    assert t_whole.usage is not None and t_whole.usage.total_tokens == out["usage"]["total_tokens"]
    if include_usage:
        assert chunks[-1]["usage"] == out["usage"]


@settings(max_examples=200, deadline=None)
@given(gemini_replies())
def test_an_assistant_turn_round_trips_through_openai(full: dict[str, Any]) -> None:
    """Gemini's turn -> OpenAI's assistant message -> back in the next request: the same
    parts (thoughts are not sent back), signatures on their calls, and the function
    responses answer the calls one for one."""
    first = full["candidates"][0]
    out = json.loads(
        gemini_to_openai_response(json.dumps({**full, "candidates": [first]}).encode(), "g")[0]
    )
    message = out["choices"][0]["message"]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}, message]
    messages += [
        {"role": "tool", "tool_call_id": c["id"], "content": "done"}
        for c in message.get("tool_calls", [])
    ]
    body = openai_to_gemini_request({"model": "g", "messages": messages}, "gemini-3-pro")
    assert check_gemini(body) is None, check_gemini(body)
    texts = "".join(
        p["text"] for p in first["content"]["parts"] if "text" in p and not p.get("thought")
    )
    calls = [p for p in first["content"]["parts"] if "functionCall" in p]
    model_turn = body["contents"][1]
    assert model_turn["role"] == "model"
    expected = ([{"text": texts}] if texts else []) + calls
    assert model_turn["parts"] == expected
