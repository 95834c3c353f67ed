"""The response cache in Redis (``cache_params.type: redis``): two gateway instances share
it, an undecodable entry is a miss and is deleted, and Redis down bypasses the cache (one log
line) without failing a request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.gateway import GatewayProcess, deployment
from tests.e2e.tenancy import MASTER, Admin, http, metric
from tests.fakes.openai_upstream import FakeOpenAI
from tests.redis_server import RedisServer, redis_server  # noqa: F401


def config(up: FakeOpenAI, url: str) -> str:
    cfg = {
        "model_list": [
            deployment("gpt", "openai/upstream-gpt", api_base=up.base_url, api_key="sk-up"),
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER},
        "litellm_settings": {
            "cache": True,
            "cache_params": {"type": "redis", "redis_url": url, "ttl": 60, "namespace": "t"},
        },
    }
    return json.dumps(cfg)


@pytest.fixture()
def pair(
    upstream: FakeOpenAI,
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    upstream.clear()
    text = config(upstream, redis_server.url)
    for name in "ab":
        (tmp_path / name).mkdir()
    with GatewayProcess(text, tmp_path / "a") as a, GatewayProcess(text, tmp_path / "b") as b:
        yield a, b


def ask(gw: GatewayProcess, text: str) -> tuple[int, dict[str, str], Any]:
    body = {"model": "gpt", "messages": [{"role": "user", "content": text}]}
    return http("POST", f"{gw.base_url}/chat/completions", body, MASTER)


def upstream_calls(up: FakeOpenAI) -> int:
    return sum(1 for r in up.requests if r.path == "/v1/chat/completions")


def test_two_instances_share_the_cache(
    pair: tuple[GatewayProcess, GatewayProcess], upstream: FakeOpenAI
) -> None:
    a, b = pair
    status, head, first = ask(a, "shared-across")
    assert (status, head["x-pllm-cache"]) == (200, "miss")
    status, head, second = ask(b, "shared-across")
    assert (status, head["x-pllm-cache"]) == (200, "hit")
    assert first == second
    assert upstream_calls(upstream) == 1
    assert metric(b, "pllm_cache_hits_total") == 1


def test_undecodable_entry_is_a_miss_and_deleted(
    pair: tuple[GatewayProcess, GatewayProcess],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a, _ = pair
    _, head, _ = ask(a, "corrupt-me")
    key = head["x-litellm-cache-key"]
    client = redis.Redis.from_url(redis_server.url)
    try:
        [stored] = client.keys(f"t:*:{key}")
        client.set(stored, b"\xc1garbage")
        assert ask(a, "corrupt-me")[1]["x-pllm-cache"] == "miss"
        # Deleted, then stored again from the upstream's answer: a hit next.
        assert ask(a, "corrupt-me")[1]["x-pllm-cache"] == "hit"
    finally:
        client.close()


def test_redis_down_bypasses_the_cache(
    pair: tuple[GatewayProcess, GatewayProcess],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a, _ = pair
    assert ask(a, "while-down")[1]["x-pllm-cache"] == "miss"
    redis_server.stop()
    try:
        for _ in range(3):
            status, head, _ = ask(a, "while-down")
            assert (status, head["x-pllm-cache"]) == (200, "miss")
    finally:
        redis_server.start()
    time.sleep(1.1)  # RETRY_AFTER: Redis is tried again
    assert ask(a, "while-down")[1]["x-pllm-cache"] == "miss"  # its data went with it
    assert ask(a, "while-down")[1]["x-pllm-cache"] == "hit"
    logs = a.logs()
    assert logs.count("cache Redis unreachable") == 1
    assert logs.count("cache Redis reachable again") == 1
    assert "redis://" not in logs


def test_admin_delete_reaches_every_instance(
    pair: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = pair
    assert ask(a, "drop-me")[1]["x-pllm-cache"] == "miss"
    assert ask(b, "drop-me")[1]["x-pllm-cache"] == "hit"
    admin = Admin(a).wait_ready()
    assert admin.call("GET", "/admin/cache")["redis_up"] is True
    assert admin.call("DELETE", "/admin/cache?model=gpt")["deleted"] >= 1  # earlier tests too
    assert ask(b, "drop-me")[1]["x-pllm-cache"] == "miss"
