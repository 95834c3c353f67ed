"""The response cache's cost: per request through the app in process, the lookup alone, and
the semantic index's search.

1. Chat completions through the ASGI app in process (the ``mock`` upstream, master key):
   CPU µs per request with the cache off, on a miss (every prompt new: lookup, upstream,
   store) and on a hit (one prompt again and again) — what the hit saves is the upstream.
2. The lookup alone (``ResponseCache.plan`` + ``find``) on a miss and on a hit, and a hit's
   reply replayed as a stream, on a 20-message conversation.
3. ``pllm_accel.VectorIndex.search`` over 10k and 100k vectors of 384 floats in one group
   (every entry a candidate: the semantic cache's worst case).

    .venv/bin/python -m benches.cache
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pllm_accel
from pllm.cache.replay import as_stream
from pllm.cache.service import ResponseCache
from pllm.call import Call
from pllm.config.cache import CacheSettings
from pllm.observability.metrics import Metrics
from pllm.usage import Usage

KEY = "sk-bench-cache"


def config(data_dir: str, cache: bool) -> str:
    cfg: dict[str, Any] = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
        "general_settings": {"master_key": KEY, "data_dir": data_dir, "access_log": False},
    }
    if cache:
        cfg["litellm_settings"] = {"cache": True, "cache_params": {"type": "local"}}
    return json.dumps(cfg)


async def drive(app: Any, bodies: list[bytes], expect: str | None) -> float:
    never = asyncio.Event()
    seen: list[str] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
            headers = dict(message["headers"])
            seen.append(headers.get(b"x-pllm-cache", b"").decode())

    start = time.thread_time()
    for body in bodies:
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive(pending: list[dict[str, Any]] = pending) -> dict[str, Any]:
            if not pending:
                await never.wait()
            return pending.pop()

        headers = [
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": headers,
        }
        await app(scope, receive, send)
    spent = (time.thread_time() - start) / len(bodies) * 1e6
    if expect is not None:
        assert set(seen) == {expect}, set(seen)
    return spent


def chat(text: str) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()


async def through_the_app(n: int, rounds: int) -> dict[str, float]:
    from pllm.app import build_app
    from pllm.config import load_settings

    out: dict[str, float] = {}
    for cache in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.yaml"
            path.write_text(config(tmp, cache))
            app = build_app(load_settings(str(path)))
            startup = iter([{"type": "lifespan.startup"}])

            async def lifespan_receive(startup: Any = startup) -> dict[str, Any]:
                return next(startup, {"type": "lifespan.shutdown"})

            async def lifespan_send(message: MutableMapping[str, Any]) -> None:
                pass

            life = asyncio.ensure_future(app({"type": "lifespan"}, lifespan_receive, lifespan_send))
            await asyncio.sleep(0.5)
            if not cache:
                await drive(app, [chat("warm")] * (n // 10), "")
                out["off"] = statistics.median(
                    [await drive(app, [chat("same")] * n, "") for _ in range(rounds)]
                )
            else:
                await drive(app, [chat(f"warm {i}") for i in range(n // 10)], "miss")
                misses = [
                    await drive(app, [chat(f"p{r} {i}") for i in range(n)], "miss")
                    for r in range(rounds)
                ]
                out["miss"] = statistics.median(misses)
                await drive(app, [chat("again")], "miss")
                out["hit"] = statistics.median(
                    [await drive(app, [chat("again")] * n, "hit") for _ in range(rounds)]
                )
            await life
    return out


async def lookup_alone(n: int) -> dict[str, float]:
    cache = ResponseCache(CacheSettings(), Metrics())
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "word " * 40}
        for i in range(20)
    ]
    reply = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "answer " * 100},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000},
        }
    ).encode()
    call = Call()
    out: dict[str, float] = {}
    for i in range(n // 10):  # warm-up
        plan = cache.plan(call, "chat/completions", "m", {"model": "m", "seed": i}, {})
        assert plan is not None
        await cache.find(plan)
    start = time.perf_counter()
    for i in range(n):
        payload = {"model": "m", "messages": messages, "temperature": 0.1 + i}
        plan = cache.plan(call, "chat/completions", "m", payload, {})
        assert plan is not None and await cache.find(plan) is None
    out["miss_lookup"] = (time.perf_counter() - start) / n * 1e6
    payload = {"model": "m", "messages": messages}
    plan = cache.plan(call, "chat/completions", "m", dict(payload), {})
    assert plan is not None
    await cache.put(plan, reply, Usage(900, 100, 1000))
    start = time.perf_counter()
    for _ in range(n):
        plan = cache.plan(call, "chat/completions", "m", dict(payload), {})
        assert plan is not None and await cache.find(plan) is not None
    out["hit_lookup"] = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for _ in range(n):
        as_stream("chat/completions", reply, True)
    out["replay_as_stream"] = (time.perf_counter() - start) / n * 1e6
    return out


def semantic_search(sizes: tuple[int, ...], dim: int = 384, queries: int = 20) -> dict[int, float]:
    rng = random.Random(1)
    out: dict[int, float] = {}
    for size in sizes:
        index = pllm_accel.VectorIndex(dim)
        for i in range(size):
            index.add(i, 0, [rng.uniform(-1, 1) for _ in range(dim)])
        query = [rng.uniform(-1, 1) for _ in range(dim)]
        start = time.perf_counter()
        for _ in range(queries):
            index.search(0, query, 0.95)
        out[size] = (time.perf_counter() - start) / queries * 1e3
    return out


def main() -> None:
    import logging

    logging.disable(logging.CRITICAL)
    app = asyncio.run(through_the_app(2000, 3))
    print(
        "through the app (CPU µs per request; req/s on one core): "
        + ", ".join(f"{k} {v:.1f} µs ({1e6 / v:,.0f}/s)" for k, v in app.items())
    )
    alone = asyncio.run(lookup_alone(5000))
    print("lookup alone (µs): " + ", ".join(f"{k} {v:.1f}" for k, v in alone.items()))
    search = semantic_search((10_000, 100_000))
    print(
        "semantic search, 384 floats (ms): "
        + ", ".join(f"{k:,} entries {v:.2f}" for k, v in search.items())
    )


if __name__ == "__main__":
    main()
