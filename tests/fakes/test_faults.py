"""Self-tests for the fault injection of the fake OpenAI upstream (``faults``).

Most tests speak raw HTTP/1.1 over a socket (``Connection: close``) so they can
assert exactly which bytes arrive and how the connection ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from .faults import IN_BAND_ERROR
from .openai_upstream import FakeOpenAI
from .raw_http import CHAT, connect, read_to_eof, sse_data

MESSAGES: list[Any] = [{"role": "user", "content": "say hello please"}]
STREAM_BODY: dict[str, Any] = {"model": "m1", "messages": MESSAGES, "stream": True}
PLAIN_BODY: dict[str, Any] = {"model": "m1", "messages": MESSAGES}
ROLE = '{"role":"assistant","content":""}'


@pytest.fixture
def client(up: FakeOpenAI) -> Iterator[OpenAI]:
    with OpenAI(base_url=up.base_url, api_key="x", max_retries=0, timeout=2.0) as c:
        yield c


def _dechunk(body: bytes) -> bytes:
    """Decode a chunked body; asserts that it ends with the proper terminator."""
    out = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert body == b"\r\n", "chunked body must end with 0\\r\\n\\r\\n"
            return out
        out, body = out + body[:size], body[size:]
        assert body.startswith(b"\r\n")
        body = body[2:]


class _Answer:
    """A complete HTTP response read to EOF from a raw socket."""

    def __init__(self, raw: bytes) -> None:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        chunked = self.headers.get("transfer-encoding") == "chunked"
        self.body = _dechunk(body) if chunked else body
        if not chunked:
            assert len(body) == int(self.headers["content-length"])

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def events(self) -> list[str]:
        return sse_data(self.body)


def _exchange(
    up: FakeOpenAI, body: Any, headers: dict[str, str], path: str = CHAT, method: str = "POST"
) -> _Answer:
    with connect(up, body, headers, path, method) as sock:
        return _Answer(read_to_eof(sock))


def _content(event: str) -> str | None:
    content: str | None = json.loads(event)["choices"][0]["delta"].get("content")
    return content


# ---------------------------------------------------------------------------- status faults


def test_429_with_retry_after(up: FakeOpenAI, client: OpenAI) -> None:
    answer = _exchange(up, PLAIN_BODY, {"x-fault": "429", "x-fault-retry-after": "3"})
    assert answer.status == 429
    assert answer.headers["retry-after"] == "3"
    assert answer.headers["x-request-id"] == "fake-0"
    error = answer.json["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="m1", messages=MESSAGES, stream=True, extra_headers={"x-fault": "429"}
        )
    assert caught.value.response.headers["retry-after"] == "1"
    assert [r.fault for r in up.requests] == ["429", "429"]


def test_429_without_retry_after(up: FakeOpenAI) -> None:
    answer = _exchange(up, STREAM_BODY, {"x-fault": "429-no-retry-after"})
    assert answer.status == 429
    assert "retry-after" not in answer.headers
    assert answer.json["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(up: FakeOpenAI, client: OpenAI, status: int) -> None:
    for body in (PLAIN_BODY, STREAM_BODY):
        answer = _exchange(up, body, {"x-fault": str(status)})
        assert answer.status == status
        assert answer.json["error"]["type"] == "server_error"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="m1", messages=MESSAGES, extra_headers={"x-fault": str(status)}
        )


def test_context_length_and_content_policy(up: FakeOpenAI, client: OpenAI) -> None:
    answer = _exchange(up, PLAIN_BODY, {"x-fault": "context-length"})
    assert answer.status == 400
    assert answer.json == {
        "error": {
            "message": "This model's maximum context length is 8192 tokens. However, your"
            " messages resulted in 9000 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    answer = _exchange(up, STREAM_BODY, {"x-fault": "content-policy"})
    assert answer.status == 400
    assert answer.json == {
        "error": {
            "message": "Your request was rejected as a result of our safety system.",
            "type": "invalid_request_error",
            "param": None,
            "code": "content_policy_violation",
        }
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="m1", messages=MESSAGES, extra_headers={"x-fault": "context-length"}
        )
    assert caught.value.code == "context_length_exceeded"


# ---------------------------------------------------------------------------- connection faults


def test_reset_sends_rst_before_any_byte(up: FakeOpenAI, client: OpenAI) -> None:
    with (
        connect(up, STREAM_BODY, {"x-fault": "reset"}) as sock,
        pytest.raises(ConnectionResetError),
    ):
        sock.recv(65536)
    assert up.requests[0].fault == "reset"
    assert up.requests[0].json == STREAM_BODY  # the request was read in full
    assert up.response_started == {}
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(
            model="m1", messages=MESSAGES, extra_headers={"x-fault": "reset"}
        )


def test_never_answer(up: FakeOpenAI) -> None:
    with connect(up, PLAIN_BODY, {"x-fault": "never-answer"}) as sock:
        up.wait_for_requests(1)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    up.wait_for_disconnect(0, timeout=1.0)
    assert up.response_started == {}
    assert up.requests[0].fault == "never-answer"


def test_slow_first_token(up: FakeOpenAI, client: OpenAI) -> None:
    headers = {"x-fault": "slow-first-token", "x-fault-delay-ms": "150"}
    answer = _exchange(up, STREAM_BODY, headers)
    assert answer.status == 200
    assert answer.events[-1] == "[DONE]"
    waited = up.response_started[0] - up.requests[0].received_at
    assert 0.15 <= waited < 0.5
    started = time.monotonic()
    completion = client.chat.completions.create(
        model="m1", messages=MESSAGES, extra_headers=headers
    )
    assert time.monotonic() - started >= 0.15
    assert completion.choices[0].message.content == "Hello from fake upstream"
    assert [r.fault for r in up.requests] == ["slow-first-token"] * 2


# ---------------------------------------------------------------------------- stream faults


@pytest.mark.parametrize(("chunks", "expected"), [(None, 2), ("3", 3), ("0", 0), ("9", 4)])
def test_stream_cut_after(up: FakeOpenAI, chunks: str | None, expected: int) -> None:
    headers = {"x-fault": "stream-cut-after"} | ({"x-fault-chunks": chunks} if chunks else {})
    with connect(up, STREAM_BODY, headers) as sock:
        raw = read_to_eof(sock)
    assert raw.endswith(b"\r\n0\r\n\r\n")  # a clean chunked end
    events = _Answer(raw).events
    assert events[0] == json.dumps(json.loads(events[0]), separators=(",", ":"))
    assert json.loads(events[0])["choices"][0]["delta"] == json.loads(ROLE)
    assert [_content(e) for e in events[1:]] == ["Hello", " from", " fake", " upstream"][:expected]
    assert len(up.chunk_times.get(0, [])) == expected


def test_stream_cut_after_via_sdk_ends_quietly(up: FakeOpenAI, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m1", messages=MESSAGES, stream=True, extra_headers={"x-fault": "stream-cut-after"}
    )
    assert [c.choices[0].delta.content for c in stream] == ["", "Hello", " from"]


def test_stream_stall(up: FakeOpenAI) -> None:
    headers = {"x-fault": "stream-stall", "x-fault-chunks": "1"}
    with connect(up, STREAM_BODY, headers) as sock:
        seen = b""
        while b'"content":"Hello"' not in seen:
            data = sock.recv(65536)
            assert data
            seen += data
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(65536)
    assert b'" from"' not in seen
    assert b"\r\n0\r\n\r\n" not in seen
    up.wait_for_disconnect(0, timeout=1.0)
    assert len(up.chunk_times[0]) == 1


def test_stream_stall_does_not_block_stop(up: FakeOpenAI) -> None:
    with connect(up, STREAM_BODY, {"x-fault": "stream-stall"}) as sock:
        up.wait_for_requests(1)
        deadline = time.monotonic() + 1.0
        while len(up.chunk_times.get(0, [])) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        started = time.monotonic()
        up.stop()
        assert time.monotonic() - started < 1.0
        sock.settimeout(1.0)
        raw = read_to_eof(sock)  # closed after two content chunks, without a clean end
    assert b'" from"' in raw
    assert not raw.endswith(b"0\r\n\r\n")


def test_malformed_sse(up: FakeOpenAI, client: OpenAI) -> None:
    events = _exchange(up, STREAM_BODY, {"x-fault": "malformed-sse"}).events
    assert events[2] == "{not json"
    assert [_content(e) for e in events[:2] + events[3:-1]] == [
        "",
        "Hello",
        " from",
        " fake",
        " upstream",
    ]
    assert events[-1] == "[DONE]"
    stream = client.chat.completions.create(
        model="m1", messages=MESSAGES, stream=True, extra_headers={"x-fault": "malformed-sse"}
    )
    with pytest.raises(json.JSONDecodeError), stream:
        for _ in stream:
            pass


def test_missing_done(up: FakeOpenAI) -> None:
    body = {**STREAM_BODY, "stream_options": {"include_usage": True}}
    with connect(up, body, {"x-fault": "missing-done"}) as sock:
        raw = read_to_eof(sock)
    assert raw.endswith(b"\r\n0\r\n\r\n")
    events = _Answer(raw).events
    assert "[DONE]" not in events
    assert len(events) == 6  # role, four pieces, usage
    assert json.loads(events[-1])["usage"]["completion_tokens"] == 4


def test_in_band_error(up: FakeOpenAI, client: OpenAI) -> None:
    with connect(up, STREAM_BODY, {"x-fault": "in-band-error"}) as sock:
        raw = read_to_eof(sock)
    assert raw.endswith(b"\r\n0\r\n\r\n")
    events = _Answer(raw).events
    assert [_content(e) for e in events[:2]] == ["", "Hello"]
    assert json.loads(events[2]) == IN_BAND_ERROR
    assert events[2] == (
        '{"error":{"message":"upstream failed mid-stream","type":"server_error",'
        '"param":null,"code":"internal_error"}}'
    )
    assert len(events) == 3
    stream = client.chat.completions.create(
        model="m1", messages=MESSAGES, stream=True, extra_headers={"x-fault": "in-band-error"}
    )
    with pytest.raises(openai.APIError, match="upstream failed mid-stream"), stream:
        for _ in stream:
            pass


def test_legacy_completions_stream_fault(up: FakeOpenAI) -> None:
    body = {"model": "m1", "prompt": "hi", "stream": True}
    events = _exchange(up, body, {"x-fault": "stream-cut-after"}, "/v1/completions").events
    assert [json.loads(e)["choices"][0]["text"] for e in events] == ["Hello", " from"]


def test_stream_faults_skip_non_streams(up: FakeOpenAI) -> None:
    headers = {"x-fault": "missing-done", "x-fault-times": "1"}
    answer = _exchange(up, PLAIN_BODY, headers)
    assert answer.json["choices"][0]["message"]["content"] == "Hello from fake upstream"
    embedding = {"model": "e", "input": "x", "stream": True}
    assert _exchange(up, embedding, headers, "/v1/embeddings").status == 200
    assert up.faults.counts == {}  # not counted against x-fault-times
    assert _exchange(up, STREAM_BODY, headers).events[-1] != "[DONE]"
    assert _exchange(up, STREAM_BODY, headers).events[-1] == "[DONE]"
    assert [r.fault for r in up.requests] == [None, None, "missing-done", None]
    assert up.faults.counts == {"missing-done": 2}


# ---------------------------------------------------------------------------- selection


def test_times_counts_per_key_and_clear_resets(up: FakeOpenAI) -> None:
    once = {"x-fault": "500", "x-fault-times": "1"}
    assert _exchange(up, PLAIN_BODY, once).status == 500
    assert _exchange(up, PLAIN_BODY, once).status == 200
    assert _exchange(up, PLAIN_BODY, {**once, "x-fault-key": "other"}).status == 500
    twice = {"x-fault": "429", "x-fault-times": "2", "x-fault-key": "b"}
    assert [_exchange(up, STREAM_BODY, twice).status for _ in range(3)] == [429, 429, 200]
    assert [r.fault for r in up.requests] == ["500", None, "500", "429", "429", None]
    assert up.faults.counts == {"500": 2, "other": 1, "b": 3}
    up.clear()
    assert up.faults.counts == {}
    assert up.requests == []
    assert _exchange(up, PLAIN_BODY, once).status == 500
    assert _exchange(up, PLAIN_BODY, {**once, "x-fault-times": "0"}).status == 200


def test_fault_by_model_name(up: FakeOpenAI) -> None:
    answer = _exchange(up, {"model": "fault-503", "messages": MESSAGES}, {})
    assert answer.status == 503
    azure = "/openai/deployments/fault-429/chat/completions?api-version=2024-06-01"
    answer = _exchange(up, {"messages": MESSAGES}, {}, azure)
    assert answer.status == 429
    header_wins = _exchange(up, {"model": "fault-503", "messages": MESSAGES}, {"x-fault": "500"})
    assert header_wins.status == 500
    assert [r.fault for r in up.requests] == ["503", "429", "500"]
    assert [r.model for r in up.requests] == ["fault-503", None, "fault-503"]


def test_unknown_fault_fails_loudly(up: FakeOpenAI) -> None:
    answer = _exchange(up, PLAIN_BODY, {"x-fault": "5OO"})
    assert answer.status == 400
    assert answer.json["error"]["code"] == "unknown_fault"
    assert "'5OO'" in answer.json["error"]["message"]
    assert up.requests[0].fault is None


def test_no_fault_on_get_and_default_unchanged(up: FakeOpenAI) -> None:
    assert _exchange(up, None, {"x-fault": "500"}, "/v1/models", "GET").status == 200
    answer = _exchange(up, STREAM_BODY, {})
    assert answer.events[-1] == "[DONE]"
    assert [r.fault for r in up.requests] == [None, None]
    assert sorted(up.response_started) == [0, 1]
    assert all(up.response_started[i] >= up.requests[i].received_at for i in (0, 1))
