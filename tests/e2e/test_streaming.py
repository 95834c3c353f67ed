"""Streaming through the gateway: no buffering, explicit errors, and cancellation upstream."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import openai
import pytest

from tests.e2e.gateway import (
    GatewayProcess,
    deployment,
    gateway_fixtures,
    raw_stream,
    stream_request,
)
from tests.fakes.openai_upstream import FakeOpenAI

KEY = "sk-stream-test"


def config(up: FakeOpenAI) -> str:
    def entry(name: str, model: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
        if headers:
            extra["extra_headers"] = headers
        return deployment(name, model, api_base=up.base_url, api_key="k", **extra)

    return json.dumps(
        {
            "model_list": [
                entry("paced", "openai/p", {"x-fake-chunks": "5", "x-fake-interval-ms": "200"}),
                entry("long", "openai/l", {"x-fake-chunks": "100", "x-fake-interval-ms": "100"}),
                entry("cut", "openai/stream-cut"),
                entry(
                    "stall",
                    "openai/s",
                    {"x-fake-chunks": "3", "x-fake-interval-ms": "3000"},
                    chunk_timeout=0.5,
                ),
                entry("silent", "openai/hang", stream_timeout=0.5, timeout=30),
                entry("held", "openai/h", {"x-fake-hold-ms": "1500"}),
            ],
            "general_settings": {"master_key": KEY},
        }
    )


gateway, client = gateway_fixtures(config, KEY, timeout=20)


def ask(client: openai.OpenAI, model: str) -> openai.Stream[Any]:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True
    )


def test_each_chunk_arrives_as_the_upstream_sends_it(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    arrivals: list[float] = []
    for chunk in ask(client, "paced"):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
    sent = upstream.chunk_times[0]
    assert len(arrivals) == len(sent) == 5
    # The fake runs in this process, so both sides read the same monotonic clock.
    lags = [a - s for a, s in zip(arrivals, sent, strict=True)]
    assert all(0 <= lag < 0.1 for lag in lags), lags


def test_client_disconnect_cancels_the_upstream_request(
    gateway: GatewayProcess, upstream: FakeOpenAI
) -> None:
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    sock.sendall(stream_request("long", KEY))
    received = b""
    while received.count(b"tok") < 2:
        received += sock.recv(65536)
    sock.close()
    closed_at = time.monotonic()
    _, seen_at = upstream.wait_for_disconnect(timeout=3)
    assert seen_at - closed_at < 1.0
    assert len(upstream.chunk_times[0]) < 20


def test_cut_stream_ends_with_an_error_event_not_done(
    client: openai.OpenAI, gateway: GatewayProcess
) -> None:
    got: list[str] = []
    with pytest.raises(openai.APIError) as e:
        for chunk in ask(client, "cut"):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "Hello from"
    # The fake drops the connection inside the chunked body: a broken connection, reported.
    assert "upstream connection failed" in e.value.message
    raw = raw_stream(gateway, "cut", KEY)
    assert b"[DONE]" not in raw and b'"code":"upstream_connection_error"' in raw


def test_stalled_stream_is_ended_by_the_chunk_timeout(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIError) as e:
        for _ in ask(client, "stall"):
            pass
    assert "between chunks timeout" in e.value.message
    assert time.monotonic() - started < 2.0


def test_silent_upstream_stream_gets_504_after_the_first_byte_timeout(
    client: openai.OpenAI,
) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as e:
        ask(client, "silent")
    assert e.value.status_code == 504
    assert 0.5 <= time.monotonic() - started < 2.0


def test_usage_is_recorded_when_the_client_leaves_right_after_done(
    gateway: GatewayProcess, upstream: FakeOpenAI
) -> None:
    # The upstream holds its body open after [DONE]: the relay is still waiting when the
    # client leaves, so the disconnect cancels it mid-wait.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(stream_request("held", KEY))
        received = b""
        while b"data: [DONE]" not in received:
            received += sock.recv(65536)
    record = gateway.access_line(upstream.last_request.headers["x-request-id"])
    assert record["completion_tokens"] > 0 and record["prompt_tokens"] > 0
