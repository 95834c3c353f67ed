"""Self-tests for the fake OpenAI upstream, driven by the official ``openai`` SDK."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from .openai_upstream import DEFAULT_REPLY, FakeOpenAI, fake_embedding, reply_pieces
from .raw_http import connect, sse_data


@pytest.fixture
def client(up: FakeOpenAI) -> Iterator[OpenAI]:
    with OpenAI(base_url=up.base_url, api_key="x", max_retries=0, timeout=5.0) as c:
        yield c


def _post(up: FakeOpenAI, path: str, body: Any, headers: dict[str, str] | None = None) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        up.root_url + path,
        data=data,
        method="POST",
        headers={"content-type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: bytes = response.read()
        return result


MESSAGES: list[Any] = [{"role": "user", "content": "say hello please"}]


# ---------------------------------------------------------------------------- lifecycle


def test_start_stop_is_fast_and_restartable() -> None:
    started = time.monotonic()
    server = FakeOpenAI()
    server.start()
    try:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.port > 0
        assert server.running
    finally:
        server.stop()
    assert not server.running
    server.stop()  # idempotent
    assert time.monotonic() - started < 1.0
    with server:  # a stopped server can be started again
        assert server.running


# ---------------------------------------------------------------------------- chat


def test_chat_completion(up: FakeOpenAI, client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.5,
        extra_body={"some_vendor_field": {"x": 1}},
        extra_headers={"x-custom": "yes"},
    )
    assert raw.headers["x-request-id"] == "fake-0"
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.id == "chatcmpl-fake-0"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == DEFAULT_REPLY
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 3
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == 7
    assert "some_vendor_field" not in raw.http_response.text

    (recorded,) = up.requests
    assert recorded.method == "POST"
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == "Bearer x"
    assert recorded.headers["x-custom"] == "yes"
    assert recorded.json == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0.5,
        "some_vendor_field": {"x": 1},
    }
    assert json.loads(recorded.body) == recorded.json
    assert recorded.model == "gpt-4o-mini"
    assert recorded.received_at <= time.monotonic()


def test_chat_stream_without_usage(up: FakeOpenAI, client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="m1", messages=MESSAGES, stream=True))
    assert len(chunks) == 1 + 4
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    assert all(c.object == "chat.completion.chunk" and c.model == "m1" for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, None, None, "stop"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == DEFAULT_REPLY
    assert len(up.chunk_times[0]) == 4

    raw = _post(up, "/v1/chat/completions", {"model": "m1", "messages": [], "stream": True})
    events = sse_data(raw)
    assert events[-1] == "[DONE]"
    assert raw.endswith(b"data: [DONE]\n\n")
    assert all("usage" not in json.loads(e) for e in events[:-1])


def test_chat_stream_with_usage(up: FakeOpenAI, client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="m1",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert len(chunks) == 1 + 4 + 1
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"
    final = chunks[-1]
    assert final.choices == []
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (3, 4)
    assert final.usage.total_tokens == 7

    raw = _post(
        up,
        "/v1/chat/completions",
        {"model": "m1", "messages": [], "stream": True, "stream_options": {"include_usage": True}},
    )
    events = sse_data(raw)
    assert events[-1] == "[DONE]"
    parsed = [json.loads(e) for e in events[:-1]]
    assert all(p["usage"] is None for p in parsed[:-1])
    assert parsed[-1]["choices"] == []
    assert parsed[-1]["usage"]["completion_tokens"] == 4


def test_fake_chunks_are_paced_and_flushed(up: FakeOpenAI, client: OpenAI) -> None:
    received: list[float] = []
    stream = client.chat.completions.create(
        model="m1",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-fake-chunks": "5", "x-fake-interval-ms": "40"},
    )
    contents: list[str] = []
    for chunk in stream:
        text = chunk.choices[0].delta.content
        if text:
            received.append(time.monotonic())
            contents.append(text)
    assert contents == reply_pieces(5) == ["tok0", " tok1", " tok2", " tok3", " tok4"]
    sent = up.chunk_times[0]
    assert len(sent) == 5
    assert all(b - a >= 0.035 for a, b in itertools.pairwise(sent))
    assert sent[0] - up.requests[0].received_at >= 0.035
    # Each chunk reached the client before the next one was even sent: nothing is buffered.
    assert all(r < s for r, s in zip(received, sent[1:], strict=False))


def test_delay_header(up: FakeOpenAI, client: OpenAI) -> None:
    started = time.monotonic()
    client.chat.completions.create(
        model="m1", messages=MESSAGES, extra_headers={"x-fake-delay-ms": "100"}
    )
    assert time.monotonic() - started >= 0.1


def test_concurrent_requests_are_all_recorded(up: FakeOpenAI, client: OpenAI) -> None:
    def one(i: int) -> str:
        raw = client.chat.completions.with_raw_response.create(model=f"m{i}", messages=MESSAGES)
        return raw.headers["x-request-id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, range(16)))
    assert sorted(ids) == sorted(f"fake-{i}" for i in range(16))
    assert sorted(r.model or "" for r in up.requests) == sorted(f"m{i}" for i in range(16))


# ---------------------------------------------------------------------------- other APIs


def test_embeddings_base64_default(up: FakeOpenAI, client: OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert up.requests[0].json is not None
    assert up.requests[0].json["encoding_format"] == "base64"
    assert result.object == "list"
    assert result.model == "text-embedding-3-small"
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[0].embedding == fake_embedding("alpha")
    assert result.data[1].embedding == fake_embedding("beta")
    assert len(result.data[0].embedding) == 8
    assert result.usage.prompt_tokens == result.usage.total_tokens == 2

    raw = json.loads(_post(up, "/v1/embeddings", {"model": "e", "input": "alpha"}))
    assert raw["data"] == [
        {"object": "embedding", "index": 0, "embedding": fake_embedding("alpha")}
    ]

    floats = client.embeddings.create(
        model="e", input="gamma", encoding_format="float", dimensions=3
    )
    assert floats.data[0].embedding == fake_embedding("gamma", 3)


def test_legacy_completions(up: FakeOpenAI, client: OpenAI) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    assert completion.object == "text_completion"
    assert completion.choices[0].text == DEFAULT_REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 2 + 4

    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="Say hi",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert len(chunks) == 4 + 1
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks[:-1]) == DEFAULT_REPLY
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None

    raw = _post(up, "/v1/completions", {"model": "i", "prompt": "x", "stream": True})
    assert sse_data(raw)[-1] == "[DONE]"


def test_models(up: FakeOpenAI, client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == list(up.models)
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_azure_paths(up: FakeOpenAI) -> None:
    with AzureOpenAI(
        azure_endpoint=up.root_url, api_key="azure-key", api_version="2024-10-21", max_retries=0
    ) as azure:
        completion = azure.chat.completions.create(model="my-deployment", messages=MESSAGES)
    assert completion.choices[0].message.content == DEFAULT_REPLY
    recorded = up.requests[0]
    assert recorded.path == "/openai/deployments/my-deployment/chat/completions"
    assert recorded.query == {"api-version": "2024-10-21"}
    assert recorded.headers["api-key"] == "azure-key"

    # Without a body model the deployment name drives the behaviour.
    raw = json.loads(_post(up, "/openai/deployments/dep-1/embeddings", {"input": "a"}))
    assert raw["model"] == "dep-1"
    with pytest.raises(urllib.error.HTTPError) as info:
        _post(up, "/openai/deployments/error-429/chat/completions?api-version=1", {})
    with info.value as error:
        assert error.code == 429


def test_unknown_route_and_bad_json(up: FakeOpenAI) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(up.base_url + "/nope", timeout=5)
    with info.value as error:
        assert error.code == 404
        assert error.headers["x-request-id"] == "fake-0"
        body = json.loads(error.read())
    assert body["error"]["message"] == "Invalid URL (GET /v1/nope)"

    with pytest.raises(urllib.error.HTTPError) as info:
        _post(up, "/v1/chat/completions", b"not json")
    with info.value as error:
        assert error.code == 400
        assert json.loads(error.read())["error"]["type"] == "invalid_request_error"
    assert up.requests[1].json is None and up.requests[1].body == b"not json"


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "exc_type", "error_type"),
    [
        (429, openai.RateLimitError, "requests"),
        (400, openai.BadRequestError, "invalid_request_error"),
        (500, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
    ],
)
def test_error_models(
    up: FakeOpenAI,
    client: OpenAI,
    status: int,
    exc_type: type[openai.APIStatusError],
    error_type: str,
) -> None:
    with pytest.raises(exc_type) as info:
        client.chat.completions.create(model=f"error-{status}", messages=MESSAGES, stream=True)
    error = info.value
    assert error.status_code == status
    assert error.response.headers["x-request-id"] == "fake-0"
    body = error.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == error_type
    assert body["error"]["param"] is None
    assert isinstance(body["error"]["code"], str)
    if status == 429:
        assert error.response.headers["retry-after"] == "7"
        assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    if status == 400:
        assert body["error"]["message"] == "fake upstream rejected the request"
    assert len(up.requests) == 1  # no retries

    with pytest.raises(exc_type):
        client.embeddings.create(model=f"error-{status}", input="a")


def test_text_error_500(up: FakeOpenAI) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        _post(up, "/v1/chat/completions", {"model": "text-error-500", "messages": []})
    with info.value as error:
        assert error.code == 500
        assert error.headers["content-type"].startswith("text/plain")
        assert error.read() == b"upstream exploded"


# ---------------------------------------------------------------------------- broken streams


def test_stream_cut(up: FakeOpenAI, client: OpenAI) -> None:
    chunks: list[Any] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(
            model="stream-cut", messages=MESSAGES, stream=True
        ):
            chunks.append(chunk)
    assert len(chunks) == 2
    assert [c.choices[0].delta.content for c in chunks] == ["Hello", " from"]

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="stream-cut", messages=MESSAGES)


def test_disconnect_detected_raw_socket(up: FakeOpenAI) -> None:
    sock = connect(
        up,
        {"model": "m1", "messages": [], "stream": True},
        {"x-fake-chunks": "200", "x-fake-interval-ms": "20"},
    )
    with sock:
        seen = b""
        while b'"content":"tok0"' not in seen:
            data = sock.recv(65536)
            assert data
            seen += data
        assert b"x-request-id: fake-0" in seen.lower()
    closed_at = time.monotonic()
    index, detected_at = up.wait_for_disconnect(timeout=1.0)
    assert index == 0
    assert 0 <= detected_at - closed_at < 1.0
    assert len(up.chunk_times[0]) < 200


def test_disconnect_detected_sdk_close(up: FakeOpenAI, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m1",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-fake-chunks": "100", "x-fake-interval-ms": "10"},
    )
    with stream:
        for n, _chunk in enumerate(stream):
            if n == 2:
                break
    closed_at = time.monotonic()
    _, detected_at = up.wait_for_disconnect(0, timeout=1.0)
    assert detected_at - closed_at < 1.0


def test_hang_client_timeout_is_seen_as_disconnect(up: FakeOpenAI) -> None:
    with (
        OpenAI(base_url=up.base_url, api_key="x", max_retries=0, timeout=0.3) as impatient,
        pytest.raises(openai.APITimeoutError),
    ):
        impatient.chat.completions.create(model="hang", messages=MESSAGES)
    up.wait_for_disconnect(0, timeout=1.0)


def test_hang_does_not_block_stop(up: FakeOpenAI) -> None:
    sock = connect(up, {"model": "hang", "messages": []}, {})
    with sock:
        up.wait_for_requests(1)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        started = time.monotonic()
        up.stop()
        assert time.monotonic() - started < 1.0
        sock.settimeout(1.0)
        assert sock.recv(65536) == b""  # closed without an answer
