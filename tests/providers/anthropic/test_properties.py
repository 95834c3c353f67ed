"""Property tests: OpenAI -> Anthropic -> OpenAI request round trips keep what both formats
carry, and any chunking of a stream (framed by ``pllm_accel.SseParser``) translates the same."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

import pllm_accel
from pllm.providers.anthropic import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
)
from tests.fakes.anthropic_wire import message, stream_events, text_block, tool_use_block, usage

text = st.text(min_size=1, max_size=20)
ident = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ident, inner, max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(ident, json_value, max_size=4)
image = st.one_of(
    st.builds(lambda u: f"https://img.example/{u}.png", ident),
    st.builds(lambda d: f"data:image/jpeg;base64,{d}", ident),
)
part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, text),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, image),
)
parts = st.lists(part, min_size=1, max_size=3)


@st.composite
def conversations(draw: st.DrawFn, canonical: bool = True) -> list[dict[str, Any]]:
    """Turns in the canonical form both formats express the same way (alternating roles);
    not ``canonical``: with runs of user turns, which Anthropic's format merges."""
    out: list[dict[str, Any]] = []
    if draw(st.booleans()):
        out.append({"role": "system", "content": draw(text)})
    after_tools = False
    for turn in range(draw(st.integers(1, 4))):
        content = draw(parts) if after_tools else draw(text | parts)
        out.append({"role": "user", "content": content})
        after_tools = False
        if not canonical and draw(st.booleans()):
            continue
        calls = draw(
            st.lists(st.tuples(ident, ident, arguments), max_size=2, unique_by=lambda c: c[0])
        )
        if not calls:
            out.append({"role": "assistant", "content": draw(text)})
            continue
        out.append(
            {
                "role": "assistant",
                "content": draw(st.none() | text),
                "tool_calls": [
                    {
                        "id": f"call_{turn}_{cid}",
                        "type": "function",
                        "function": {"name": name, "arguments": msgspec.json.encode(args).decode()},
                    }
                    for cid, name, args in calls
                ],
            }
        )
        out.extend(
            {"role": "tool", "tool_call_id": f"call_{turn}_{cid}", "content": draw(text)}
            for cid, _, _ in calls
        )
        after_tools = True
    return out


@st.composite
def openai_requests(draw: st.DrawFn, canonical: bool = True) -> dict[str, Any]:
    req: dict[str, Any] = {"model": "m", "messages": draw(conversations(canonical))}
    req["max_tokens"] = draw(st.integers(16385, 64000))
    optional: dict[str, Any] = {
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "stop": st.lists(text, min_size=1, max_size=3),
        "user": ident,
        "reasoning_effort": st.sampled_from(["low", "medium", "high"]),
        "stream": st.just(True),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            req[name] = draw(strategy)
    if draw(st.booleans()):
        names = draw(st.lists(ident, min_size=1, max_size=3, unique=True))
        req["tools"] = [
            {
                "type": "function",
                "function": {"name": n, "description": "d", "parameters": {"type": "object"}},
            }
            for n in names
        ]
        choice = draw(st.sampled_from(["auto", "none", "required", "named", None]))
        if choice == "named":
            req["tool_choice"] = {"type": "function", "function": {"name": names[0]}}
        elif choice is not None:
            req["tool_choice"] = choice
        if choice != "none" and draw(st.booleans()):
            req["parallel_tool_calls"] = False
    return req


@settings(max_examples=200, deadline=None)
@given(openai_requests())
def test_openai_request_round_trips_through_anthropic(req: dict[str, Any]) -> None:
    there = openai_to_anthropic_request(req, "claude-x")
    back = anthropic_to_openai_request(there, "m")
    if req.get("parallel_tool_calls") is False:
        # Anthropic says it inside tool_choice, whose default ("auto") then becomes explicit.
        req.setdefault("tool_choice", "auto")
    assert back == req
    # And the Anthropic side is a fixed point of the opposite trip.
    assert openai_to_anthropic_request(back, "claude-x") == there


@settings(max_examples=100, deadline=None)
@given(openai_requests(canonical=False))
def test_merged_turns_are_a_fixed_point_of_the_round_trip(req: dict[str, Any]) -> None:
    there = openai_to_anthropic_request(req, "claude-x")
    roles = [m["role"] for m in there["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles))
    assert openai_to_anthropic_request(anthropic_to_openai_request(there, "m"), "claude-x") == there


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[start:p])
        start = p
    return pieces


@st.composite
def anthropic_streams(draw: st.DrawFn) -> tuple[dict[str, Any], list[list[str]]]:
    blocks: list[dict[str, Any]] = []
    pieces: list[list[str]] = []
    for i in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            words = draw(st.lists(st.text(max_size=8), min_size=1, max_size=5))
            blocks.append(text_block("".join(words)))
            pieces.append(words)
        else:
            raw = json.dumps(draw(arguments))
            cut = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=3)))
            bounds = [0, *cut, len(raw)]
            blocks.append(tool_use_block(f"toolu_{i}", f"tool{i}", json.loads(raw)))
            pieces.append(["", *(raw[a:b] for a, b in itertools.pairwise(bounds))])
    stop = draw(st.sampled_from(["end_turn", "max_tokens", "tool_use", "stop_sequence"]))
    use = usage(draw(st.integers(0, 999)), draw(st.integers(0, 999)), draw(st.integers(0, 99)))
    return message("msg_p", "claude-x", blocks, stop, use), pieces


def _translate(pieces: list[bytes], include_usage: bool) -> tuple[bytes, AnthropicToOpenAIStream]:
    parser = pllm_accel.SseParser()
    t = AnthropicToOpenAIStream(include_usage=include_usage, created=7)
    out = b"".join(t.feed(e.event, e.data) for piece in pieces for e in parser.feed(piece))
    return out, t


@settings(max_examples=200, deadline=None)
@given(anthropic_streams(), st.lists(st.integers(0, 5000), max_size=30), st.booleans())
def test_any_chunking_of_an_anthropic_stream_gives_the_same_openai_chunks(
    stream: tuple[dict[str, Any], list[list[str]]], cuts: list[int], include_usage: bool
) -> None:
    msg, pieces = stream
    data = b"".join(stream_events(msg, pieces))
    whole, t_whole = _translate([data], include_usage)
    split, t_split = _translate(_splits(data, cuts), include_usage)
    assert split == whole
    assert t_split.done and t_whole.done and t_split.usage == t_whole.usage
    # The chunks add up to the non-streaming translation of the same message.
    reply = json.loads(anthropic_to_openai_response(json.dumps(msg).encode())[0])
    chunks = [json.loads(f[6:]) for f in whole.split(b"\n\n") if f and f != b"data: [DONE]"]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    content = "".join(d.get("content") or "" for d in deltas)
    assert content == (reply["choices"][0]["message"]["content"] or "")
    args: dict[int, str] = {}
    for d in deltas:
        for tc in d.get("tool_calls", []):
            args[tc["index"]] = args.get(tc["index"], "") + tc["function"]["arguments"]
    expected = [
        json.loads(c["function"]["arguments"])
        for c in reply["choices"][0]["message"].get("tool_calls", [])
    ]
    assert [json.loads(a) for _, a in sorted(args.items())] == expected
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == reply["choices"][0]["finish_reason"]
    assert t_whole.usage.total_tokens == reply["usage"]["total_tokens"]


@st.composite
def openai_streams(draw: st.DrawFn) -> bytes:
    frames: list[dict[str, Any]] = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    for i in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            delta: dict[str, Any] = {"content": draw(st.text(min_size=1, max_size=8))}
        else:
            call: dict[str, Any] = {
                "index": i // 3,
                "function": {"arguments": draw(st.text(max_size=6))},
            }
            if i % 3 == 0:
                call.update(id=f"call_{i}", type="function")
                call["function"]["name"] = "f"
            delta = {"tool_calls": [call]}
        frames.append(
            {"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        )
    frames.append(
        {
            "id": "c1",
            "choices": [
                {
                    "index": 0,
                    "delta": {},
                    "finish_reason": draw(st.sampled_from(["stop", "length", "tool_calls"])),
                }
            ],
        }
    )
    frames.append(
        {
            "id": "c1",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
    )
    return (
        b"".join(b"data: " + json.dumps(f).encode() + b"\n\n" for f in frames) + b"data: [DONE]\n\n"
    )


@settings(max_examples=200, deadline=None)
@given(openai_streams(), st.lists(st.integers(0, 3000), max_size=30))
def test_any_chunking_of_an_openai_stream_gives_the_same_anthropic_events(
    data: bytes, cuts: list[int]
) -> None:
    def run(pieces: list[bytes]) -> tuple[bytes, OpenAIToAnthropicStream]:
        parser = pllm_accel.SseParser()
        t = OpenAIToAnthropicStream("m")
        return b"".join(t.feed(e.data) for p in pieces for e in parser.feed(p)), t

    whole, t = run([data])
    assert run(_splits(data, cuts))[0] == whole
    assert t.done and t.usage is not None and t.usage.total_tokens == 7
    events = [e for e in whole.split(b"\n\n") if e]
    names = [e.split(b"\n")[0].removeprefix(b"event: ").decode() for e in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop")
