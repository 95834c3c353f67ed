"""The response cache through a running gateway, driven by the openai SDK against a fake
upstream that counts calls: hits and misses, a reply replayed as a stream and a stream as a
reply, ttl and per-request control, scopes, refusals never answered from the cache, spend
and metrics."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.e2e.tenancy import MASTER, Admin, http, metric
from tests.fakes.openai_upstream import DEFAULT_REPLY, FakeOpenAI


def config(up: FakeOpenAI, **cache_params: Any) -> str:
    base = up.base_url

    def entry(name: str, model: str) -> dict[str, Any]:
        return deployment(name, model, api_base=base, api_key="sk-upstream")

    cfg = {
        "model_list": [
            entry("gpt", "openai/upstream-gpt"),
            entry("other", "openai/upstream-other"),
            entry("cut", "openai/stream-cut"),
            entry("instruct", "openai/gpt-3.5-turbo-instruct"),
            entry("embed", "openai/text-embedding-fake"),
            deployment(
                "cheap",
                "mock/cheap",
                mock_reply_tokens=16,
                input_cost_per_token=0,
                output_cost_per_token=0.0625,
            ),
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "master_key": MASTER,
            "auth_refresh_interval": 0.1,
            "spend_flush_interval": 0.1,
        },
        "litellm_settings": {
            "cache": True,
            "cache_params": {"type": "local", "ttl": 60, **cache_params},
            "callbacks": ["ignored"],
        },
    }
    return json.dumps(cfg)


@pytest.fixture(scope="module")
def gw(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(upstream), tmp_path_factory.mktemp("cache")) as g:
        Admin(g).wait_ready()
        yield g


@pytest.fixture()
def sdk(gw: GatewayProcess, upstream: FakeOpenAI) -> Iterator[openai.OpenAI]:
    upstream.clear()
    with openai.OpenAI(base_url=gw.base_url, api_key=MASTER, max_retries=0) as client:
        yield client


def calls(up: FakeOpenAI, path: str = "/v1/chat/completions") -> int:
    return sum(1 for r in up.requests if r.path == path)


def ask(sdk: openai.OpenAI, text: str, **extra: Any) -> tuple[str, dict[str, str], str]:
    """(cache header, headers, reply text) of a plain chat completion."""
    raw = sdk.chat.completions.with_raw_response.create(
        model=extra.pop("model", "gpt"), messages=[{"role": "user", "content": text}], **extra
    )
    reply = raw.parse()
    headers = {k.lower(): v for k, v in raw.headers.items()}
    return headers.get("x-pllm-cache", ""), headers, reply.choices[0].message.content or ""


def ask_stream(sdk: openai.OpenAI, text: str, **extra: Any) -> tuple[str, str, Any, dict[str, str]]:
    """(cache header, text, usage, headers) of a streaming chat completion."""
    with sdk.chat.completions.with_streaming_response.create(
        model=extra.pop("model", "gpt"),
        messages=[{"role": "user", "content": text}],
        stream=True,
        **extra,
    ) as response:
        headers = {k.lower(): v for k, v in response.headers.items()}
        pieces, usage = [], None
        for chunk in response.parse():
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
    return headers.get("x-pllm-cache", ""), "".join(pieces), usage, headers


def raw_sse(gw: GatewayProcess, body: dict[str, Any]) -> bytes:
    """A streaming request over a socket: the exact bytes of the answer."""
    data = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {MASTER}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
        "connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(head.encode() + data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_second_identical_request_is_a_hit(sdk: openai.OpenAI, upstream: FakeOpenAI) -> None:
    first, h1, text1 = ask(sdk, "hit-me", temperature=0.5)
    # Same answer-changing fields in another order and with user/metadata: the same entry.
    second, h2, text2 = ask(sdk, "hit-me", temperature=0.5, user="someone-else")
    assert (first, second) == ("miss", "hit")
    assert text1 == text2 == DEFAULT_REPLY
    assert h1["x-litellm-cache-key"] == h2["x-litellm-cache-key"]
    assert len(h1["x-litellm-cache-key"]) == 64
    assert calls(upstream) == 1
    # Another temperature is another answer.
    assert ask(sdk, "hit-me", temperature=0.7)[0] == "miss"
    assert calls(upstream) == 2


def test_reply_replays_as_stream(sdk: openai.OpenAI, upstream: FakeOpenAI) -> None:
    assert ask(sdk, "reply-then-stream")[0] == "miss"
    hit, text, usage, _ = ask_stream(
        sdk, "reply-then-stream", stream_options={"include_usage": True}
    )
    assert (hit, text) == ("hit", DEFAULT_REPLY)
    assert usage is not None and usage.completion_tokens > 0
    assert calls(upstream) == 1


def test_stream_replay_is_valid_sse(gw: GatewayProcess, sdk: openai.OpenAI) -> None:
    assert ask(sdk, "raw-sse")[0] == "miss"
    body = {"model": "gpt", "messages": [{"role": "user", "content": "raw-sse"}], "stream": True}
    out = raw_sse(gw, body)
    assert b"x-pllm-cache: hit" in out.lower()
    assert b"text/event-stream" in out
    assert out.rstrip(b"0\r\n").endswith(b"data: [DONE]")
    assert b'"usage"' not in out  # not asked for


def test_completed_stream_replays_as_reply(sdk: openai.OpenAI, upstream: FakeOpenAI) -> None:
    hit, text, _, _ = ask_stream(sdk, "stream-then-reply")
    assert (hit, text) == ("miss", DEFAULT_REPLY)
    cached, _, reply_text = ask(sdk, "stream-then-reply")
    assert (cached, reply_text) == ("hit", DEFAULT_REPLY)
    again, text2, _, _ = ask_stream(sdk, "stream-then-reply")
    assert (again, text2) == ("hit", DEFAULT_REPLY)
    assert calls(upstream) == 1


def test_cut_stream_is_not_stored(sdk: openai.OpenAI, upstream: FakeOpenAI) -> None:
    for _ in range(2):
        with pytest.raises(openai.APIError):
            ask_stream(sdk, "cut", model="cut")
    assert calls(upstream) == 2


def test_completions_and_embeddings(sdk: openai.OpenAI, upstream: FakeOpenAI) -> None:
    texts = []
    for _ in range(2):
        raw = sdk.completions.with_raw_response.create(model="instruct", prompt="complete me")
        texts.append((raw.headers["x-pllm-cache"], raw.parse().choices[0].text))
    assert [t[0] for t in texts] == ["miss", "hit"] and texts[0][1] == texts[1][1]
    assert calls(upstream, "/v1/completions") == 1
    vectors = []
    for _ in range(2):
        emb = sdk.embeddings.with_raw_response.create(model="embed", input=["a", "b"])
        vectors.append((emb.headers["x-pllm-cache"], emb.parse().data[1].embedding))
    assert [v[0] for v in vectors] == ["miss", "hit"] and vectors[0][1] == vectors[1][1]
    assert calls(upstream, "/v1/embeddings") == 1
    # A completion streamed from a cached reply.
    stream = sdk.completions.create(model="instruct", prompt="complete me", stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == texts[0][1]
    assert calls(upstream, "/v1/completions") == 1


def test_per_request_control(sdk: openai.OpenAI, upstream: FakeOpenAI) -> None:
    # no-store: answered, not stored.
    assert ask(sdk, "ctl", extra_body={"cache": {"no-store": True}})[0] == "miss"
    assert ask(sdk, "ctl")[0] == "miss"
    # no-cache: not looked up (the upstream answers), still stored.
    assert ask(sdk, "ctl", extra_body={"cache": {"no-cache": True}})[0] == "miss"
    assert ask(sdk, "ctl")[0] == "hit"
    # The same through Cache-Control.
    assert ask(sdk, "ctl", extra_headers={"Cache-Control": "no-cache"})[0] == "miss"
    assert ask(sdk, "ctl-h", extra_headers={"Cache-Control": "no-store"})[0] == "miss"
    assert ask(sdk, "ctl-h")[0] == "miss"
    assert calls(upstream) == 6
    # The control field never reaches the provider.
    assert all("cache" not in (r.json or {}) for r in upstream.requests)
    # A namespace is a separate cache.
    assert ask(sdk, "ctl", extra_body={"cache": {"namespace": "tenant-b"}})[0] == "miss"
    assert ask(sdk, "ctl", extra_body={"cache": {"namespace": "tenant-b"}})[0] == "hit"
    with pytest.raises(openai.BadRequestError):
        ask(sdk, "ctl", extra_body={"cache": {"ttl": -1}})


def test_ttl_and_s_maxage(sdk: openai.OpenAI, upstream: FakeOpenAI) -> None:
    assert ask(sdk, "short", extra_body={"cache": {"ttl": 0.3}})[0] == "miss"
    assert ask(sdk, "short")[0] == "hit"
    time.sleep(0.4)
    assert ask(sdk, "short")[0] == "miss"  # expired, then stored again for 60 s
    time.sleep(0.3)
    assert ask(sdk, "short", extra_body={"cache": {"s-maxage": 0.2}})[0] == "miss"
    assert ask(sdk, "short", extra_body={"cache": {"s-maxage": 30}})[0] == "hit"


def test_refused_requests_are_never_answered_from_the_cache(
    gw: GatewayProcess, sdk: openai.OpenAI
) -> None:
    admin = Admin(gw)
    assert ask(sdk, "secret-answer")[0] == "miss"
    assert ask(sdk, "secret-answer")[0] == "hit"
    body = {"model": "gpt", "messages": [{"role": "user", "content": "secret-answer"}]}
    url = f"{gw.base_url}/chat/completions"

    def post(key: str | None) -> tuple[int, dict[str, str], Any]:
        return http("POST", url, body, key)

    status, head, _ = post(None)
    assert status == 401 and "x-pllm-cache" not in head
    assert post("sk-not-a-key")[0] == 401
    revoked, created = admin.create_key(alias="revoked")
    assert post(revoked)[0] == 200
    admin.call("POST", f"/admin/keys/{created['id']}/revoke")
    deadline = time.monotonic() + 3
    while post(revoked)[0] == 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert post(revoked)[0] == 401
    other, _ = admin.create_key(allowed_models=["other"])
    status, head, answer = post(other)
    assert (status, answer["error"]["code"]) == (403, "model_not_allowed")
    # Hits count against rpm: the third request of a 2-rpm key is refused.
    limited, _ = admin.create_key(rpm=2)
    assert [post(limited)[1].get("x-pllm-cache") for _ in range(2)] == ["hit", "hit"]
    status, head, answer = post(limited)
    assert (status, answer["error"]["code"]) == (429, "rate_limit_exceeded")
    assert "x-pllm-cache" not in head


def test_over_budget_is_refused_before_the_cache(gw: GatewayProcess) -> None:
    admin = Admin(gw)
    secret, _ = admin.create_key(max_budget=2.5)  # "cheap": $1 a request

    def cheap(text: str) -> tuple[int, dict[str, str], Any]:
        body = {"model": "cheap", "messages": [{"role": "user", "content": text}]}
        return http("POST", f"{gw.base_url}/chat/completions", body, secret)

    assert cheap("b0")[1]["x-pllm-cache"] == "miss"
    assert cheap("b0")[1]["x-pllm-cache"] == "hit"  # a hit costs nothing
    assert [cheap(f"b{i}")[0] for i in (1, 2)] == [200, 200]
    status, head, answer = cheap("b0")
    assert (status, answer["error"]["code"]) == (429, "budget_exceeded")
    assert "x-pllm-cache" not in head


def test_spend_records_and_metrics(gw: GatewayProcess, sdk: openai.OpenAI) -> None:
    admin = Admin(gw)
    secret, created = admin.create_key(alias="spender")
    body = {"model": "cheap", "messages": [{"role": "user", "content": "spend"}]}
    for _ in range(2):
        assert http("POST", f"{gw.base_url}/chat/completions", body, secret)[0] == 200
    deadline = time.monotonic() + 5
    while True:
        logs = admin.call("GET", f"/admin/spend/logs?key_id={created['id']}")["data"]
        if len(logs) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    by_hit = {row["cache_hit"]: row for row in logs}
    assert by_hit[False]["cost"] == pytest.approx(1.0)
    assert by_hit[True]["cost"] == 0.0
    assert by_hit[True]["status"] == 200
    status, _, litellm_logs = http("GET", f"{gw.admin_url}/spend/logs", key=MASTER)
    assert status == 200
    text = json.dumps(litellm_logs)
    assert '"cache_hit": "True"' in text or '"cache_hit": true' in text
    assert metric(gw, "pllm_cache_hits_total") >= 1
    assert metric(gw, "pllm_cache_misses_total") >= 1
    assert metric(gw, "pllm_cache_stores_total") >= 1
    assert metric(gw, "pllm_cache_bytes") > 0


def test_scope_key_isolates_keys(
    upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with GatewayProcess(
        config(upstream, cache_scope="key"), tmp_path_factory.mktemp("scoped")
    ) as g:
        admin = Admin(g).wait_ready()
        a, _ = admin.create_key(alias="a")
        b, _ = admin.create_key(alias="b")
        body = {"model": "gpt", "messages": [{"role": "user", "content": "mine"}]}
        url = f"{g.base_url}/chat/completions"
        seen = [http("POST", url, body, k)[1]["x-pllm-cache"] for k in (a, a, b, b)]
        assert seen == ["miss", "hit", "miss", "hit"]


def test_global_scope_shares_between_keys(gw: GatewayProcess) -> None:
    admin = Admin(gw)
    a, _ = admin.create_key(alias="ga")
    b, _ = admin.create_key(alias="gb")
    body = {"model": "gpt", "messages": [{"role": "user", "content": "shared"}]}
    url = f"{gw.base_url}/chat/completions"
    seen = [http("POST", url, body, k)[1]["x-pllm-cache"] for k in (a, b)]
    assert seen == ["miss", "hit"]


def test_no_prompt_in_logs(gw: GatewayProcess, sdk: openai.OpenAI) -> None:
    ask(sdk, "PROMPT-canary-cache")
    ask(sdk, "PROMPT-canary-cache")
    assert "PROMPT-canary-cache" not in gw.logs()


def test_admin_stats_and_delete(gw: GatewayProcess, sdk: openai.OpenAI) -> None:
    admin = Admin(gw)
    _, head, _ = ask(sdk, "del-by-key")
    ask(sdk, "del-by-model", model="other")
    ask(sdk, "del-all")
    stats = admin.call("GET", "/admin/cache")
    assert (stats["type"], stats["scope"]) == ("local", "global")
    assert stats["entries"] >= 3 and 0 < stats["bytes"] <= stats["max_bytes"]
    assert stats["hits"] >= 1 and stats["misses"] >= 3 and stats["stores"] >= 3
    key = head["x-litellm-cache-key"]
    assert admin.call("DELETE", f"/admin/cache?key={key}") == {"deleted": 1}
    assert ask(sdk, "del-by-key")[0] == "miss"
    assert admin.call("DELETE", "/admin/cache?model=other") == {"deleted": 1}
    assert ask(sdk, "del-by-model", model="other")[0] == "miss"
    assert ask(sdk, "del-all")[0] == "hit"
    assert admin.call("DELETE", "/admin/cache")["deleted"] >= 3
    assert ask(sdk, "del-all")[0] == "miss"
    assert admin.call("GET", "/admin/cache")["entries"] == 1
    status, _, body = http("DELETE", f"{gw.admin_url}/admin/cache?key=nothex", key=MASTER)
    assert status == 400, body
    status, _, _ = http("DELETE", f"{gw.admin_url}/admin/cache", key=None)
    assert status == 401


def test_hits_do_not_count_against_tpm(gw: GatewayProcess) -> None:
    admin = Admin(gw)
    secret, _ = admin.create_key(tpm=300)
    body = {
        "model": "gpt",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "tokens-per-minute"}],
    }
    url = f"{gw.base_url}/chat/completions"
    status, head, answer = http("POST", url, body, secret)
    assert (status, head["x-pllm-cache"]) == (200, "miss")
    used = answer["usage"]["total_tokens"]
    assert used > 0
    # Each request reserves over 100 tokens (max_tokens) of 300; were hits charged their
    # usage, the window would be too full for that after fewer than 200 / used of them.
    hits = 2 + 300 // used
    assert [http("POST", url, body, secret)[1].get("x-pllm-cache") for _ in range(hits)] == [
        "hit"
    ] * hits


def test_the_workers_of_a_host_share_the_local_cache(
    upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("cache-workers")
    with GatewayProcess(config(upstream), workdir, args=("--workers", "2")) as two:
        upstream.clear()
        body = {"model": "gpt", "messages": [{"role": "user", "content": "one host, one cache"}]}
        first = http("POST", f"{two.base_url}/chat/completions", body, MASTER)[1]
        assert first.get("x-pllm-cache") == "miss"
        time.sleep(0.3)  # stored once the reply was sent
        # Each request on a connection of its own: the kernel spreads them over both workers.
        heads = [
            http("POST", f"{two.base_url}/chat/completions", body, MASTER)[1] for _ in range(12)
        ]
        assert [h.get("x-pllm-cache") for h in heads] == ["hit"] * 12
        assert calls(upstream) == 1
