from __future__ import annotations

import asyncio
import base64
import json
import struct

from pllm.config import MockParams
from pllm.providers.codec import Endpoint, Outgoing
from pllm.providers.mock import MockBackend


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_reply_is_deterministic_and_sized() -> None:
    m = MockBackend(MockParams(reply_tokens=7), "m")
    a = json.loads(run(m.chat({"messages": [{"role": "user", "content": "hi"}]}, "r1")))
    b = json.loads(run(m.chat({"messages": [{"role": "user", "content": "hi"}]}, "r2")))
    assert a["choices"] == b["choices"]
    assert (
        a["usage"]["completion_tokens"] == 7 == len(a["choices"][0]["message"]["content"].split())
    )


def outgoing(include_usage: bool) -> Outgoing:
    payload: dict[str, object] = {"messages": []}
    return Outgoing(Endpoint.CHAT, payload, b"", model="m", stream=True, usage_chunk=include_usage)


async def polled(m: MockBackend, include_usage: bool) -> list[tuple[float, bytes]]:
    """Every frame the mock's stream gives, polled as the relay polls, with when it came."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    answer = await m.answer(outgoing(include_usage), "r")
    frames: list[tuple[float, bytes]] = []
    while (batch := answer.poll()) is not None:
        if not batch:
            await answer.wait()
            continue
        for frame in batch.out.split(b"\n\n")[:-1]:
            frames.append((loop.time() - start, frame + b"\n\n"))
    assert answer.saw_done
    return frames


async def collect(m: MockBackend, include_usage: bool) -> list[bytes]:
    return [f for _, f in await polled(m, include_usage)]


def test_stream_frames_match_the_openai_shape() -> None:
    m = MockBackend(MockParams(response="one two three"), "m")
    frames = run(collect(m, include_usage=True))
    assert frames[-1] == b"data: [DONE]\n\n"
    chunks = [json.loads(f[6:]) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "one two three"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert all("usage" in c for c in chunks)
    assert all("usage" not in json.loads(f[6:]) for f in run(collect(m, False))[:-1])


def test_stream_pace_follows_ttft_and_tokens_per_second() -> None:
    m = MockBackend(MockParams(reply_tokens=5, ttft_ms=50, tokens_per_second=100), "m")

    async def timed() -> list[float]:
        return [t for t, _ in await polled(m, include_usage=False)]

    times = run(timed())
    assert 0.045 <= times[0] < 0.2  # first frame after the time to first token
    assert 0.035 <= times[-1] - times[0] < 0.3  # four gaps of 10 ms between five tokens


def test_embeddings_float_and_base64_agree() -> None:
    m = MockBackend(MockParams(embedding_dim=4), "e")
    plain = json.loads(run(m.embeddings({"input": ["a", "b"]})))
    packed = json.loads(run(m.embeddings({"input": ["a", "b"], "encoding_format": "base64"})))
    for p, b in zip(plain["data"], packed["data"], strict=True):
        decoded = struct.unpack("<4f", base64.b64decode(b["embedding"]))
        assert [round(x, 5) for x in decoded] == [round(x, 5) for x in p["embedding"]]
    assert plain["data"][0]["embedding"] != plain["data"][1]["embedding"]
