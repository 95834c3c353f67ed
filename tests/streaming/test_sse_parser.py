"""The native SSE parser through its Python binding, against a reference reading of the spec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pllm_accel import SseEvent, SseParser

Event = tuple[str | None, bytes]


def reference(stream: bytes) -> list[Event]:
    """A direct, whole-input reading of the WHATWG event-stream rules."""
    text = stream.removeprefix(b"\xef\xbb\xbf")
    lines = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    lines = lines[:-1]  # the last piece is not a complete line
    events: list[Event] = []
    data: list[bytes] = []
    name: str | None = None
    for line in lines:
        if not line:
            if data:
                events.append((name, b"\n".join(data)))
            data, name = [], None
            continue
        if line.startswith(b":"):
            continue
        field, sep, value = line.partition(b":")
        if sep and value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    return events


line_end = st.sampled_from([b"\n", b"\r\n", b"\r"])
field = st.one_of(
    st.binary(max_size=12)
    .filter(lambda b: b"\n" not in b and b"\r" not in b)
    .map(lambda v: b"data: " + v),
    st.text("abcxyz_", min_size=1, max_size=8).map(lambda v: b"event: " + v.encode()),
    st.text("ab ", max_size=8).map(lambda v: b": " + v.encode()),
    st.just(b"retry: 10"),
    st.just(b""),
)
streams = st.lists(st.tuples(field, line_end), max_size=30).map(
    lambda parts: b"".join(f + e for f, e in parts)
)


def pairs(events: list[SseEvent]) -> list[Event]:
    return [(e.event, e.data) for e in events]


def feed_in_pieces(stream: bytes, cuts: list[int]) -> list[Event]:
    parser = SseParser()
    out: list[Event] = []
    start = 0
    for at in sorted(c % (len(stream) + 1) for c in cuts):
        out += pairs(parser.feed(stream[start:at]))
        start = at
    out += pairs(parser.feed(stream[start:]))
    return out


@given(streams, st.lists(st.integers(min_value=0), max_size=10))
def test_any_split_yields_the_reference_events(stream: bytes, cuts: list[int]) -> None:
    assert feed_in_pieces(stream, cuts) == reference(stream)


@given(streams)
def test_byte_by_byte_equals_whole(stream: bytes) -> None:
    assert feed_in_pieces(stream, list(range(len(stream)))) == pairs(SseParser().feed(stream))


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_never_crash(chunks: list[bytes]) -> None:
    parser = SseParser()
    for c in chunks:
        parser.feed(c)


def test_openai_and_anthropic_shapes() -> None:
    p = SseParser()
    assert p.feed(b'data: {"a":1}\n\ndata: [DONE]\n\n') == [
        SseEvent(None, b'{"a":1}'),
        SseEvent(None, b"[DONE]"),
    ]
    assert p.feed(b"event: ping\r\ndata: {}\r\n\r\n: keep-alive\r\n\r\n") == [
        SseEvent("ping", b"{}")
    ]
    assert not p.has_pending()
    assert p.feed(b'data: {"cut') == [] and p.has_pending()


def test_events_are_small_frozen_values() -> None:
    ev = SseEvent("message_stop", b"{}")
    assert (ev.event, ev.data) == ("message_stop", b"{}")
    assert ev == SseEvent("message_stop", b"{}") and hash(ev) == hash(
        SseEvent("message_stop", b"{}")
    )
    assert ev != SseEvent(None, b"{}") and ev != SseEvent("message_stop", b"")
    assert ev != ("message_stop", b"{}"), "an event is not a tuple"
    assert len({ev, SseEvent("message_stop", b"{}"), SseEvent(None, b"x")}) == 2
    assert repr(ev) == "SseEvent(event='message_stop', data=b'{}')"
    assert repr(SseEvent(None, b"x")) == "SseEvent(event=None, data=b'x')"
    with pytest.raises(AttributeError):
        ev.data = b"x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SseEvent("x", "not bytes")  # type: ignore[arg-type]
