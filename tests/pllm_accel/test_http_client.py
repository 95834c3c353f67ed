"""The native client through its Python binding, against the fake OpenAI upstream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import pllm_accel
from tests.e2e.gateway import free_port
from tests.fakes.openai_upstream import DEFAULT_REPLY, FakeOpenAI

Scenario = Callable[[pllm_accel.HttpClient], Awaitable[Any]]


def run(scenario: Scenario) -> Any:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        client = pllm_accel.open_client(loop)
        try:
            return await scenario(client)
        finally:
            pllm_accel.close_client(loop, client)

    return asyncio.run(main())


def send(
    client: pllm_accel.HttpClient,
    url: str,
    payload: dict[str, Any],
    *,
    relay: Any = "none",
    headers: list[tuple[str, str]] | None = None,
    first_byte: float = 5.0,
    chunk: float = 5.0,
) -> asyncio.Future[pllm_accel.UpstreamResponse]:
    target = pllm_accel.Target(
        "POST", url, [("content-type", "application/json"), *(headers or [])]
    )
    return client.send(
        target,
        json.dumps(payload).encode(),
        request_id="req-test",
        connect_timeout=2.0,
        first_byte_timeout=first_byte,
        chunk_timeout=chunk,
        max_body_bytes=1 << 20,
        relay=relay,
    )


def chat(model: str, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


async def drain_events(resp: pllm_accel.UpstreamResponse) -> list[tuple[str | None, bytes]]:
    out: list[tuple[str | None, bytes]] = []
    while (batch := resp.poll()) is not None:
        if batch:
            out += batch
        else:
            await resp.wait()
    return out


def test_whole_body(upstream: FakeOpenAI) -> None:
    upstream.clear()

    async def scenario(client: pllm_accel.HttpClient) -> pllm_accel.UpstreamResponse:
        return await send(client, f"{upstream.base_url}/chat/completions", chat("m"))

    resp = run(scenario)
    assert resp.status == 200 and resp.body is not None
    assert json.loads(resp.body)["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert ("x-request-id", "fake-0") in resp.headers or any(
        k == "x-request-id" for k, _ in resp.headers
    )


def test_events_relay_yields_parsed_sse(upstream: FakeOpenAI) -> None:
    async def scenario(client: pllm_accel.HttpClient) -> list[tuple[str | None, bytes]]:
        resp = await send(
            client, f"{upstream.base_url}/chat/completions", chat("m", True), relay="events"
        )
        return await drain_events(resp)

    events = run(scenario)
    assert events[-1] == (None, b"[DONE]")
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content", "") for _, d in events[:-1])
    assert text == DEFAULT_REPLY


def test_raw_relay_passes_bytes(upstream: FakeOpenAI) -> None:
    async def scenario(client: pllm_accel.HttpClient) -> bytes:
        resp = await send(
            client, f"{upstream.base_url}/chat/completions", chat("m", True), relay="raw"
        )
        return b"".join(d for _, d in await drain_events(resp))

    assert run(scenario).endswith(b"data: [DONE]\n\n")


def test_error_status_reads_the_body_even_when_streaming(upstream: FakeOpenAI) -> None:
    async def scenario(client: pllm_accel.HttpClient) -> pllm_accel.UpstreamResponse:
        return await send(
            client, f"{upstream.base_url}/chat/completions", chat("error-429", True), relay="openai"
        )

    resp = run(scenario)
    assert resp.status == 429 and resp.body is not None and b"error" in resp.body
    with pytest.raises(ValueError):
        resp.poll_framed()


def test_connect_refused_and_first_byte_timeout(upstream: FakeOpenAI) -> None:
    async def scenario(client: pllm_accel.HttpClient) -> tuple[BaseException, BaseException, float]:
        dead = f"http://127.0.0.1:{free_port()}/v1/chat/completions"
        refused = await asyncio.gather(send(client, dead, chat("m")), return_exceptions=True)
        started = time.monotonic()
        silent = await asyncio.gather(
            send(client, f"{upstream.base_url}/chat/completions", chat("hang"), first_byte=0.3),
            return_exceptions=True,
        )
        return refused[0], silent[0], time.monotonic() - started

    refused, silent, took = run(scenario)
    assert isinstance(refused, pllm_accel.UpstreamConnectError)
    assert isinstance(silent, pllm_accel.UpstreamTimeoutError)
    assert pllm_accel.timeout_phase(silent) == "first_byte" and took < 1.0


def test_cancelling_the_future_cancels_the_upstream_request(upstream: FakeOpenAI) -> None:
    upstream.clear()

    async def scenario(client: pllm_accel.HttpClient) -> float:
        fut = send(client, f"{upstream.base_url}/chat/completions", chat("hang"))
        await asyncio.to_thread(upstream.wait_for_requests, 1)
        fut.cancel()
        return time.monotonic()

    cancelled_at = run(scenario)
    _, seen_at = upstream.wait_for_disconnect(timeout=3)
    assert seen_at - cancelled_at < 1.0


def test_bad_arguments_are_value_errors(upstream: FakeOpenAI) -> None:
    async def scenario(client: pllm_accel.HttpClient) -> None:
        with pytest.raises(ValueError):
            send(client, upstream.base_url, chat("m"), relay="nonsense")
        with pytest.raises(ValueError):
            send(client, upstream.base_url, chat("m"), first_byte=-1)
        with pytest.raises(pllm_accel.InvalidUpstreamRequest):
            send(client, "not a url", chat("m"))
        with pytest.raises(pllm_accel.InvalidUpstreamRequest) as e:
            send(client, upstream.base_url, chat("m"), headers=[("authorization", "Bearer sk-x\n")])
        assert "sk-x" not in str(e.value)

    run(scenario)
