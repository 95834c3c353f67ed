"""Load shedding (fast 503s, a bounded queue, dropped queued requests) and the counters a
scripted scenario must leave in /metrics."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.gateway import GatewayProcess, Samples, deployment, parse_samples
from tests.fakes.openai_upstream import FakeOpenAI

KEY = "sk-shed"


def post(gw: GatewayProcess, model: str) -> tuple[int, dict[str, str], float]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "x"}]}).encode()
    req = urllib.request.Request(
        f"{gw.base_url}/chat/completions",
        data=body,
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status, dict(r.headers), time.monotonic() - started
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), time.monotonic() - started


def concurrently(gw: GatewayProcess, model: str, n: int) -> list[tuple[int, dict[str, str], float]]:
    results: list[tuple[int, dict[str, str], float]] = []
    lock = threading.Lock()

    def one() -> None:
        r = post(gw, model)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
        time.sleep(0.03)  # a fixed arrival order: first in, second queued, third refused
    for t in threads:
        t.join()
    return results


def shedding_config(up: FakeOpenAI, queue_timeout: float) -> str:
    slow = deployment(
        "slow",
        "openai/slow",
        api_base=up.base_url,
        api_key="k",
        extra_headers={"x-fake-delay-ms": "600"},
    )
    return json.dumps(
        {
            "model_list": [slow],
            "router_settings": {"max_in_flight": 1, "max_queue": 1, "queue_timeout": queue_timeout},
            "general_settings": {"master_key": KEY},
        }
    )


def test_over_capacity_requests_get_fast_503s(upstream: FakeOpenAI, tmp_path: Path) -> None:
    upstream.clear()
    with GatewayProcess(shedding_config(upstream, 0.3), tmp_path) as gw:
        results = sorted(concurrently(gw, "slow", 3), key=lambda r: r[2])
        logs = gw.logs()
    (refused, _, refused_after), (timed_out, headers, waited), (served, _, _) = results
    # Said once in the log (a flood of refusals is one line per 10 s), not per request.
    assert logs.count("at capacity: answering 503") == 1
    assert (refused, timed_out, served) == (503, 503, 200)
    assert refused_after < 0.15, "queue full: refused at once"
    assert 0.3 <= waited < 0.6, "queued for queue_timeout, then refused"
    assert headers["retry-after"] == "1"
    assert len(upstream.requests) == 1, "shed requests never reach the upstream"


def test_a_queued_request_whose_client_left_is_never_sent(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    upstream.clear()
    with GatewayProcess(shedding_config(upstream, 5.0), tmp_path) as gw:
        first = threading.Thread(target=post, args=(gw, "slow"))
        first.start()
        time.sleep(0.1)
        body = json.dumps({"model": "slow", "messages": [{"role": "user", "content": "x"}]})
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", gw.port)) as sock:
            sock.sendall(head.encode() + body.encode())
            time.sleep(0.1)
        first.join()
        time.sleep(0.3)
        assert post(gw, "slow")[0] == 200, "the slot freed by the departed client is reusable"
    assert len(upstream.requests) == 2, "the departed client's request was not sent"


def metrics_config(up: FakeOpenAI) -> str:
    def entry(name: str, model: str, fault: str | None = None) -> dict[str, Any]:
        headers = {"extra_headers": {"x-fault": fault}} if fault else {}
        return deployment(name, f"openai/{model}", api_base=up.base_url, api_key="k", **headers)

    return json.dumps(
        {
            "model_list": [
                entry("flaky", "m-bad", "503"),
                entry("flaky", "m-good"),
                entry("primary", "m-primary", "503"),
                entry("secondary", "m-secondary"),
            ],
            "router_settings": {
                "num_retries": 2,
                "retry_after": 0.01,
                "allowed_fails": 3,
                "fallbacks": {"primary": ["secondary"]},
            },
            "general_settings": {"master_key": KEY},
        }
    )


def scrape(gw: GatewayProcess) -> Samples:
    with urllib.request.urlopen(f"{gw.url}/metrics", timeout=5) as r:
        return parse_samples(r.read().decode())


def test_a_scripted_scenario_leaves_exact_counts(upstream: FakeOpenAI, tmp_path: Path) -> None:
    upstream.clear()
    with GatewayProcess(metrics_config(upstream), tmp_path) as gw:
        assert post(gw, "flaky")[0] == 200  # m-bad fails, m-good serves: 1 retry
        assert post(gw, "primary")[0] == 200  # 3 failures (ejected), then the fallback
        m = scrape(gw)
    assert m['pllm_attempts_total{model="flaky",deployment="flaky/0",outcome="failure"}'] == 1
    assert m['pllm_attempts_total{model="flaky",deployment="flaky/1",outcome="success"}'] == 1
    assert m['pllm_retries_total{model="flaky"}'] == 1
    assert m['pllm_attempts_total{model="primary",deployment="primary/2",outcome="failure"}'] == 3
    assert m['pllm_retries_total{model="primary"}'] == 2
    assert m['pllm_fallbacks_total{from="primary",to="secondary"}'] == 1
    assert (
        m['pllm_attempts_total{model="secondary",deployment="secondary/3",outcome="success"}'] == 1
    )
    assert m["pllm_ejections_total"] == 1
    assert m['pllm_deployment_circuit_open{model="primary",deployment="primary/2"}'] == 1
    assert m['pllm_deployment_health_score{model="secondary",deployment="secondary/3"}'] == 100
    assert m['pllm_requests_total{model="flaky",status="200"}'] == 1
    assert m['pllm_requests_total{model="primary",status="200"}'] == 1
    assert "pllm_shed_total" not in " ".join(m)


def test_the_metrics_listener_has_histograms_and_tokens(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    upstream.clear()
    with GatewayProcess(metrics_config(upstream), tmp_path) as gw:
        assert post(gw, "flaky")[0] == 200
        assert post(gw, "secondary")[0] == 200
        main = scrape(gw)
        with urllib.request.urlopen(f"http://127.0.0.1:{gw.metrics_port}/metrics") as r:
            assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
            text = r.read().decode()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{gw.metrics_port}/v1/models")
        assert e.value.code == 404
        e.value.close()  # its socket, else a ResourceWarning in a later test
    on_9090 = parse_samples(text)
    # The same view on both listeners (one process), and the histograms in it.
    duration = 'gen_ai_server_request_duration_seconds_count{model="flaky",status="200"}'
    assert main[duration] == on_9090[duration] == 1
    assert (
        on_9090[
            'gen_ai_server_request_duration_seconds_bucket{model="flaky",status="200",le="+Inf"}'
        ]
        == 1
    )
    tokens = 'gen_ai_client_token_usage_total{model="secondary",gen_ai_token_type="input"}'
    assert on_9090[tokens] > 0
    upstream_count = (
        'pllm_upstream_duration_seconds_count{model="flaky",deployment="flaky/0",outcome="failure"}'
    )
    assert on_9090[upstream_count] == 1
    assert on_9090["pllm_queue_depth"] == 0
