"""Retries, failover, circuit breaking and stream failures, one scenario per test, against the
fault-injecting fake upstream. Each test counts the attempts the upstream saw (grouped by the
upstream model name each deployment sends), times what the client waited against the
configured timeouts, and checks what the client received."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, deployment, gateway_fixtures, raw_stream
from tests.fakes.openai_upstream import DEFAULT_REPLY, FakeOpenAI

KEY = "sk-routing"


def dep(name: str, model: str, fault: str | None = None, **params: Any) -> dict[str, Any]:
    headers = dict(params.pop("headers", {}))
    if fault:
        headers["x-fault"] = fault
    if headers:
        params["extra_headers"] = headers
    return deployment(name, f"openai/{model}", api_key="k", **params)


def config(up: FakeOpenAI) -> str:
    base = {"api_base": up.base_url}
    models = [
        dep("t-429", "a429", "429", headers={"x-fault-retry-after": "1"}, **base),
        dep("t-429", "b429", **base),
        dep("t-429-only", "only429", "429-no-retry-after", **base),
        dep("t-500-once", "once500", "500", headers={"x-fault-times": "1"}, **base),
        dep("t-503", "a503", "503", **base),
        dep("t-503", "b503", **base),
        dep("t-reset", "areset", "reset", **base),
        dep("t-reset", "breset", **base),
        dep("t-silent", "asilent", "never-answer", timeout=0.3, **base),
        dep("t-silent", "bsilent", **base),
        dep(
            "t-slow",
            "aslow",
            "slow-first-token",
            headers={"x-fault-delay-ms": "1500"},
            stream_timeout=0.3,
            **base,
        ),
        dep("t-slow", "bslow", **base),
        dep("t-down", "down", "503", **base),
        dep("t-cut", "cut", "stream-cut-after", **base),
        dep("t-stall", "stall", "stream-stall", chunk_timeout=0.3, **base),
        dep("t-malformed", "malformed", "malformed-sse", **base),
        dep("t-missing-done", "nodone", "missing-done", **base),
        dep("t-in-band", "inband", "in-band-error", **base),
        dep("t-small", "small", "context-length", **base),
        dep("t-big", "big", **base),
        dep("t-unsafe", "unsafe", "content-policy", **base),
        dep("t-safe", "safe", **base),
        dep("t-primary", "primary", "503", **base),
        dep("t-secondary", "secondary", **base),
        dep("t-400", "rejects", "error-400", **base),
        dep("t-emb", "emb-down", "503", **base),
        deployment("t-claude", "anthropic/c", api_key="k", api_base=up.root_url),
        dep("t-emb-ok", "emb-ok", **base),
        dep("t-weighted", "w1", **base) | {"weight": 1},
        dep("t-weighted", "w3", **base) | {"weight": 3},
        dep("t-mixed", "mgood", **base),
        dep("t-mixed", "m500", "500", **base),
        dep("t-mixed", "mhang", "never-answer", timeout=0.2, **base),
    ]
    return json.dumps(
        {
            "model_list": models,
            "router_settings": {
                "routing_strategy": {"default": "round-robin", "t-weighted": "weighted"},
                "num_retries": 2,
                "retry_after": 0.01,
                "backoff_max": 0.05,
                "allowed_fails": 3,
                "cooldown_time": 30,
                "fallbacks": [{"t-primary": ["t-secondary"]}, {"t-emb": ["t-claude", "t-emb-ok"]}],
                "context_window_fallbacks": [{"t-small": ["t-big"]}],
                "content_policy_fallbacks": [{"t-unsafe": ["t-safe"]}],
            },
            "general_settings": {"master_key": KEY},
        }
    )


gateway, client = gateway_fixtures(config, KEY, timeout=20)


def attempts(up: FakeOpenAI) -> list[str]:
    """Upstream model of every request the fake saw, in order."""
    with up.lock:
        return [r.json["model"] for r in up.requests if isinstance(r.json, dict)]


def chat(client: openai.OpenAI, model: str) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )


def health(gateway: GatewayProcess) -> dict[str, dict[str, Any]]:
    import urllib.request

    req = urllib.request.Request(
        f"{gateway.url}/health/deployments", headers={"authorization": f"Bearer {KEY}"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return {d["deployment"]: d for d in json.loads(r.read())["data"]}


# --- retried before the response starts -----------------------------------------------------


def test_429_with_retry_after_moves_to_another_deployment(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    first = chat(client, "t-429")
    assert first.parse().choices[0].message.content == DEFAULT_REPLY
    assert first.headers["x-pllm-attempts"] == "2"
    second = chat(client, "t-429")
    assert "x-pllm-attempts" not in second.headers
    # The 429'd deployment cools down for its Retry-After: the second request skips it.
    assert attempts(upstream) == ["a429", "b429", "b429"]


def test_429_without_alternative_is_passed_on_fast(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        chat(client, "t-429-only")
    assert time.monotonic() - started < 0.5
    assert attempts(upstream) == ["only429"], "a cooling deployment is not hammered again"


def test_500_once_is_retried_on_the_same_deployment_after_a_backoff(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    resp = chat(client, "t-500-once")
    assert resp.parse().choices[0].message.content == DEFAULT_REPLY
    assert attempts(upstream) == ["once500", "once500"]
    assert [r.fault for r in upstream.requests] == ["500", None]


def test_reset_before_headers_fails_over(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    assert chat(client, "t-reset").parse().choices[0].message.content == DEFAULT_REPLY
    assert attempts(upstream) == ["areset", "breset"]


def test_silent_upstream_is_bounded_by_the_first_byte_timeout(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    started = time.monotonic()
    assert chat(client, "t-silent").parse().choices[0].message.content == DEFAULT_REPLY
    took = time.monotonic() - started
    assert 0.3 <= took < 1.0, took
    assert attempts(upstream) == ["asilent", "bsilent"]


def test_slow_first_token_on_a_stream_fails_over(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    started = time.monotonic()
    chunks = list(
        client.chat.completions.create(
            model="t-slow", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_REPLY
    assert 0.3 <= time.monotonic() - started < 1.2
    assert attempts(upstream) == ["aslow", "bslow"]


def test_non_retryable_400_passes_straight_through_once(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError):
        chat(client, "t-400")
    assert attempts(upstream) == ["rejects"]


# --- health, ejection, fast 503 ---------------------------------------------------------------


def test_failing_deployment_is_ejected_and_traffic_moves(
    client: openai.OpenAI, upstream: FakeOpenAI, gateway: GatewayProcess
) -> None:
    for _ in range(6):
        assert chat(client, "t-503").parse().choices[0].message.content == DEFAULT_REPLY
    seen = attempts(upstream)
    assert seen.count("a503") == 3, "ejected after allowed_fails=3 consecutive failures"
    assert seen.count("b503") == 6
    view = health(gateway)
    assert view["t-503/4"]["circuit"] == "open" and view["t-503/4"]["score"] == 0
    assert view["t-503/5"]["circuit"] == "closed" and view["t-503/5"]["score"] == 100


def test_failing_deployments_get_only_probes_while_a_healthy_peer_exists(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    # One good, one always-500 and one hanging deployment: the ejection cap (50 % of three)
    # ejects one of the failing two; the other stays in rotation but, after its run of
    # allowed_fails failures, gets only a probe a second while the good one can serve.
    for _ in range(40):
        assert chat(client, "t-mixed").parse().choices[0].message.content == DEFAULT_REPLY
    seen = attempts(upstream)
    assert seen.count("mgood") == 40
    for bad in ("m500", "mhang"):
        # The run of three, then a probe for each second the 40 requests took.
        assert seen.count(bad) <= 3 + 3, seen


def test_every_deployment_down_gets_a_fast_503_with_retry_after(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    with pytest.raises(openai.InternalServerError) as first:
        chat(client, "t-down")
    assert first.value.status_code == 503
    assert attempts(upstream) == ["down"] * 3, "one try and num_retries=2 retries"
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as fast:
        chat(client, "t-down")
    assert time.monotonic() - started < 0.1
    assert fast.value.code == "no_healthy_deployment"
    assert 1 <= int(fast.value.response.headers["retry-after"]) <= 30
    assert attempts(upstream) == ["down"] * 3, "an ejected deployment gets no traffic"


# --- fallbacks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "served", "seen"),
    [
        ("t-primary", "t-secondary", ["primary", "primary", "primary", "secondary"]),
        ("t-small", "t-big", ["small", "big"]),
        ("t-unsafe", "t-safe", ["unsafe", "safe"]),
    ],
)
def test_fallback_chains(
    client: openai.OpenAI, upstream: FakeOpenAI, model: str, served: str, seen: list[str]
) -> None:
    resp = chat(client, model)
    assert resp.parse().choices[0].message.content == DEFAULT_REPLY
    assert resp.headers["x-pllm-model"] == served
    assert attempts(upstream) == seen


def test_weighted_strategy_splits_exactly(client: openai.OpenAI, upstream: FakeOpenAI) -> None:
    for _ in range(8):
        chat(client, "t-weighted")
    seen = attempts(upstream)
    assert (seen.count("w1"), seen.count("w3")) == (2, 6)


# --- failures after the first byte: never replayed, never a silent success --------------------


@pytest.mark.parametrize(
    ("model", "code", "content"),
    [
        ("t-cut", b"upstream_truncated", b"Hello"),
        ("t-stall", b"upstream_timeout", b"Hello"),
        ("t-malformed", b"upstream_invalid", b"Hello"),
        ("t-missing-done", b"upstream_truncated", b"upstream"),
    ],
)
def test_broken_streams_end_with_an_error_event(
    gateway: GatewayProcess, upstream: FakeOpenAI, model: str, code: bytes, content: bytes
) -> None:
    upstream.clear()
    started = time.monotonic()
    raw = raw_stream(gateway, model, KEY)
    assert time.monotonic() - started < 2.0
    assert raw.startswith(b"HTTP/1.1 200")
    assert content in raw, "what arrived before the failure was relayed"
    assert b"data: [DONE]" not in raw
    assert raw.count(b'"error"') == 1 and b'"code":"' + code + b'"' in raw
    assert len(attempts(upstream)) == 1, "no replay after the first byte"


def test_in_band_error_reaches_the_client_once(
    client: openai.OpenAI, upstream: FakeOpenAI, gateway: GatewayProcess
) -> None:
    with pytest.raises(openai.APIError) as e:
        for _ in client.chat.completions.create(
            model="t-in-band", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass
    assert "upstream failed mid-stream" in e.value.message
    raw = raw_stream(gateway, "t-in-band", KEY)
    assert raw.count(b'"error"') == 1 and b"[DONE]" not in raw
    assert attempts(upstream) == ["inband", "inband"]


def test_a_fallback_that_lacks_the_endpoint_is_passed_over(
    client: openai.OpenAI, upstream: FakeOpenAI
) -> None:
    resp = client.embeddings.with_raw_response.create(model="t-emb", input="x")
    assert resp.headers["x-pllm-model"] == "t-emb-ok"
    assert attempts(upstream) == ["emb-down"] * 3 + ["emb-ok"], "the Claude group is skipped"
