"""The semantic cache (``type: semantic``, and ``redis-semantic`` across two instances)
against a fake upstream whose ``bow-`` embeddings have known similarities: the cosine of two
texts is |A ∩ B| / sqrt(|A| |B|) over their distinct words."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.e2e.tenancy import MASTER, Admin, http
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.openai_wire import BOW_DIMENSIONS, bag_of_words_embedding
from tests.redis_server import RedisServer, redis_server  # noqa: F401

BASE = "what is the capital city of france"  # 7 words
NEAR = "what is the capital city of france please"  # 7 shared of 8: 0.935
FAR = "what is the capital of spain"  # 5 shared of 7 and 6: 0.772


def cosine(a: str, b: str) -> float:
    va, vb = bag_of_words_embedding(a, BOW_DIMENSIONS), bag_of_words_embedding(b, BOW_DIMENSIONS)
    dot = sum(x * y for x, y in zip(va, vb, strict=True))
    return dot / math.sqrt(sum(x * x for x in va) * sum(y * y for y in vb))


def config(up: FakeOpenAI, kind: str, url: str | None = None) -> str:
    def entry(name: str, model: str) -> dict[str, Any]:
        return deployment(
            name, model, api_base=up.base_url, api_key="sk-up", input_cost_per_token=0.001
        )

    params: dict[str, Any] = {
        "type": kind,
        "ttl": 60,
        "similarity_threshold": 0.9,
        "embedding_model": "embedder",
    }
    if url is not None:
        params["redis_url"] = url
    return json.dumps(
        {
            "model_list": [entry("gpt", "openai/upstream-gpt"), entry("embedder", "openai/bow-1")],
            "router_settings": {"num_retries": 0},
            "general_settings": {"master_key": MASTER, "spend_flush_interval": 0.1},
            "litellm_settings": {"cache": True, "cache_params": params},
        }
    )


def ask(
    gw: GatewayProcess, text: str, history: list[dict[str, str]] | None = None, **extra: Any
) -> tuple[str, Any]:
    messages = [*(history or []), {"role": "user", "content": text}]
    body = {"model": "gpt", "messages": messages, **extra}
    status, head, answer = http("POST", f"{gw.base_url}/chat/completions", body, MASTER)
    assert status == 200, answer
    return head["x-pllm-cache"], answer


def chats(up: FakeOpenAI) -> int:
    return sum(1 for r in up.requests if r.path == "/v1/chat/completions")


@pytest.fixture(scope="module")
def gw(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(upstream, "semantic"), tmp_path_factory.mktemp("sem")) as g:
        yield g


def test_the_similarities_are_what_the_test_says() -> None:
    assert cosine(BASE, NEAR) == pytest.approx(7 / math.sqrt(56))
    assert cosine(BASE, FAR) == pytest.approx(5 / math.sqrt(42))
    assert cosine(BASE, NEAR) >= 0.9 > cosine(BASE, FAR)


def test_a_paraphrase_hits_and_a_distant_text_misses(
    gw: GatewayProcess, upstream: FakeOpenAI
) -> None:
    upstream.clear()
    assert ask(gw, BASE)[0] == "miss"
    hit, answer = ask(gw, NEAR)
    assert hit == "hit"
    assert ask(gw, FAR)[0] == "miss"
    assert chats(upstream) == 2
    embeddings = [r.json for r in upstream.requests if r.path == "/v1/embeddings"]
    assert [e["input"] for e in embeddings if e] == [BASE, NEAR, FAR]
    assert answer["choices"][0]["message"]["content"]


def test_the_rest_must_match_exactly(gw: GatewayProcess, upstream: FakeOpenAI) -> None:
    ask(gw, BASE)
    upstream.clear()
    # Another temperature, or another earlier conversation: another group, no match.
    assert ask(gw, NEAR, temperature=0.2)[0] == "miss"
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert ask(gw, NEAR, history)[0] == "miss"
    assert ask(gw, BASE, history)[0] == "hit"  # exact, in that conversation
    assert chats(upstream) == 2


def test_admin_stats_count_vectors(gw: GatewayProcess) -> None:
    stats = Admin(gw).wait_ready().call("GET", "/admin/cache")
    assert stats["type"] == "semantic" and stats["vectors"] >= 2


def test_redis_semantic_two_instances(
    upstream: FakeOpenAI,
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    text = config(upstream, "redis-semantic", redis_server.url)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with GatewayProcess(text, tmp_path / "a") as a, GatewayProcess(text, tmp_path / "b") as b:
        upstream.clear()
        assert ask(a, "name the largest ocean on earth")[0] == "miss"
        # b's index learns a's vector from Redis at its first semantic lookup.
        assert ask(b, "name the largest ocean on earth today")[0] == "hit"
        assert ask(b, "name a small lake")[0] == "miss"
        assert chats(upstream) == 2


def test_a_semantic_hit_costs_its_embedding(gw: GatewayProcess) -> None:
    admin = Admin(gw).wait_ready()
    secret, created = admin.create_key(alias="semantic-spend")
    url = f"{gw.base_url}/chat/completions"

    def ask_as_key(text: str) -> str:
        body = {"model": "gpt", "messages": [{"role": "user", "content": text}]}
        status, head, answer = http("POST", url, body, secret)
        assert status == 200, answer
        return head["x-pllm-cache"]

    assert ask_as_key("which planet is the red planet") == "miss"
    assert ask_as_key("which planet is the red planet again") == "hit"
    deadline = time.monotonic() + 5
    while True:
        logs = admin.call("GET", f"/admin/spend/logs?key_id={created['id']}")["data"]
        if len(logs) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    hit = next(row for row in logs if row["cache_hit"])
    miss = next(row for row in logs if not row["cache_hit"])
    assert 0 < hit["cost"] < miss["cost"]  # the embedding only, priced like any call
