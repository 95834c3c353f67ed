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
from tests.fakes.anthropic_upstream import FakeAnthropic
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
    tap: tuple[str, ...] = (),
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
        tap=tap,
    )


def chat(model: str, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


async def drain(resp: pllm_accel.UpstreamResponse) -> tuple[bytes, list[pllm_accel.SseEvent]]:
    """Everything a streamed response parks, as a consumer reads it: `out` joined, the events."""
    out: list[bytes] = []
    events: list[pllm_accel.SseEvent] = []
    while (batch := resp.poll()) is not None:
        if batch:
            out.append(batch.out)
            events += batch.events
        else:
            assert batch.out == b"" and batch.events == ()
            await resp.wait()
    return b"".join(out), events


def test_whole_body(upstream: FakeOpenAI) -> None:
    upstream.clear()

    async def scenario(client: pllm_accel.HttpClient) -> pllm_accel.UpstreamResponse:
        return await send(client, f"{upstream.base_url}/chat/completions", chat("m"))

    resp = run(scenario)
    assert resp.status == 200 and resp.body is not None
    assert json.loads(resp.body)["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert resp.headers["x-request-id"] == "fake-0"


def test_headers_are_a_dict_with_repeated_values_joined() -> None:
    reply = (
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\nRetry-After: 3\r\n"
        b"Vary: a\r\nvary: b\r\nConnection: close\r\n\r\n{}"
    )

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    async def scenario(client: pllm_accel.HttpClient) -> pllm_accel.UpstreamResponse:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await send(client, f"http://127.0.0.1:{port}/v1/x", chat("m"))

    resp = run(scenario)
    assert resp.status == 429
    assert resp.headers["retry-after"] == "3"
    assert resp.headers["vary"] == "a, b"


def test_events_relay_yields_parsed_sse(upstream: FakeOpenAI) -> None:
    async def scenario(
        client: pllm_accel.HttpClient,
    ) -> tuple[bytes, list[pllm_accel.SseEvent]]:
        resp = await send(
            client, f"{upstream.base_url}/chat/completions", chat("m", True), relay="events"
        )
        return await drain(resp)

    out, events = run(scenario)
    assert out == b""
    assert events[-1] == pllm_accel.SseEvent(None, b"[DONE]")
    deltas = [json.loads(e.data)["choices"][0]["delta"] for e in events[:-1]]
    assert "".join(d.get("content", "") for d in deltas) == DEFAULT_REPLY


def test_openai_relay_reframes_and_reports_the_usage(upstream: FakeOpenAI) -> None:
    async def scenario(client: pllm_accel.HttpClient) -> list[Any]:
        results: list[Any] = []
        for relay in ("openai", "openai-strip-usage"):
            payload = {**chat("m", True), "stream_options": {"include_usage": True}}
            resp = await send(client, f"{upstream.base_url}/chat/completions", payload, relay=relay)
            out, events = await drain(resp)
            results.append((out, events, resp.usage, resp.saw_done, resp.fault, resp.truncated))
        return results

    (kept, ev1, usage, done, fault, cut), (stripped, ev2, usage2, *_) = run(scenario)
    assert ev1 == ev2 == [] and done and fault is None and not cut
    assert kept.endswith(b"data: [DONE]\n\n") and b"prompt_tokens" in kept
    assert b"prompt_tokens" not in stripped and stripped.endswith(b"data: [DONE]\n\n")
    assert isinstance(usage, pllm_accel.StreamUsage) and usage == usage2
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    assert hash(usage) == hash(usage2)
    assert repr(usage).startswith("StreamUsage(prompt_tokens=")


TAP = ("message_start", "message_delta", "message_stop", "error")


def tap_stream(model: str) -> tuple[bytes, list[pllm_accel.SseEvent], bool]:
    """A Messages stream of ``model`` from the fake Anthropic upstream through the tap relay:
    the bytes passed on, the events parked (``TAP``) and whether it was truncated."""
    payload = {
        "model": model,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }

    async def scenario(
        client: pllm_accel.HttpClient, url: str
    ) -> tuple[bytes, list[pllm_accel.SseEvent], bool]:
        resp = await send(
            client,
            url,
            payload,
            relay="tap",
            tap=TAP,
            headers=[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
        )
        out, events = await drain(resp)
        return out, events, resp.truncated

    with FakeAnthropic() as claude:
        url = f"{claude.root_url}/v1/messages"
        out, events, truncated = run(lambda client: scenario(client, url))
    return out, events, truncated


def test_tap_relay_passes_bytes_and_parks_the_named_events() -> None:
    out, events, truncated = tap_stream("claude")
    every = pllm_accel.SseParser().feed(out)
    assert {e.event for e in every} > set(TAP[:3]), "the whole stream passes in `out`"
    assert events == [e for e in every if e.event in TAP]
    assert [e.event for e in events] == ["message_start", "message_delta", "message_stop"]
    assert json.loads(events[1].data)["usage"]["output_tokens"] > 0
    assert not truncated


def test_tap_relay_parks_an_in_band_error() -> None:
    _, events, _ = tap_stream("stream-error")
    assert [e.event for e in events] == ["message_start", "error"]
    assert json.loads(events[-1].data)["error"]["type"] == "overloaded_error"


def test_a_stream_that_stalls_gives_its_data_then_raises_the_timeout(
    upstream: FakeOpenAI,
) -> None:
    async def scenario(
        client: pllm_accel.HttpClient,
    ) -> tuple[list[pllm_accel.SseEvent], BaseException, BaseException]:
        resp = await send(
            client,
            f"{upstream.base_url}/chat/completions",
            chat("m", True),
            relay="events",
            headers=[("x-fake-interval-ms", "2000")],
            chunk=0.2,
        )
        events: list[pllm_accel.SseEvent] = []
        with pytest.raises(pllm_accel.UpstreamTimeoutError) as first:
            while (batch := resp.poll()) is not None:
                events += batch.events
                if not batch:
                    await resp.wait()
        with pytest.raises(pllm_accel.UpstreamTimeoutError) as again:
            resp.poll()
        return events, first.value, again.value

    events, first, again = run(scenario)
    assert events and "choices" in json.loads(events[0].data), "the data before the stall"
    assert first.phase == again.phase == "between_chunks"


def test_error_status_reads_the_body_even_when_streaming(upstream: FakeOpenAI) -> None:
    async def scenario(client: pllm_accel.HttpClient) -> pllm_accel.UpstreamResponse:
        return await send(
            client, f"{upstream.base_url}/chat/completions", chat("error-429", True), relay="openai"
        )

    resp = run(scenario)
    assert resp.status == 429 and resp.body is not None and b"error" in resp.body
    with pytest.raises(ValueError):
        resp.poll()
    with pytest.raises(ValueError):
        resp.wait()


def test_connect_refused_and_first_byte_timeout(upstream: FakeOpenAI) -> None:
    async def scenario(client: pllm_accel.HttpClient) -> tuple[object, object, float]:
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
    assert silent.phase == "first_byte" and took < 1.0
    assert not hasattr(refused, "phase")


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
        with pytest.raises(ValueError, match="raw"):
            send(client, upstream.base_url, chat("m"), relay="raw")
        with pytest.raises(TypeError):
            send(client, upstream.base_url, chat("m"), relay="tap", tap="message_stop")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            send(client, upstream.base_url, chat("m"), first_byte=-1)
        with pytest.raises(pllm_accel.InvalidUpstreamRequest):
            send(client, "not a url", chat("m"))
        with pytest.raises(pllm_accel.InvalidUpstreamRequest) as e:
            send(client, upstream.base_url, chat("m"), headers=[("authorization", "Bearer sk-x\n")])
        assert "sk-x" not in str(e.value)

    run(scenario)
