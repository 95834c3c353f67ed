"""Virtual keys, limits and budgets through a running gateway (SQLite store, admin API child):
revocation within a second, allowed models, rpm and parallel limits released on every exit
path, the 200-concurrent budget race, spend that survives a restart, and no secret anywhere."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.e2e.gateway import GatewayProcess, stream_request
from tests.e2e.tenancy import MASTER, Admin, chat, http, metric
from tests.fakes.openai_upstream import FakeOpenAI

# Every "cheap" answer is 16 completion tokens at $1/16 each: one request costs exactly $1.
CONFIG = """
model_list:
  - model_name: cheap
    litellm_params:
      model: mock/cheap
      mock_reply_tokens: 16
      input_cost_per_token: 0
      output_cost_per_token: 0.0625
  - model_name: slow
    litellm_params:
      model: mock/slow
      mock_reply_tokens: 16
      mock_latency_ms: 400
      output_cost_per_token: 0.0625
  - model_name: broken
    litellm_params:
      model: openai/fault-500
      api_base: {base}
      api_key: upstream-key
  - model_name: hanging
    litellm_params:
      model: openai/fault-never-answer
      api_base: {base}
      api_key: upstream-key
      timeout: 0.3
router_settings:
  num_retries: 0
general_settings:
  master_key: {master}
  auth_refresh_interval: 0.1
  spend_flush_interval: 0.1
  budget_alert_webhook: {webhook}
"""


class Webhook:
    """A local HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def config(up: FakeOpenAI, webhook_url: str = "http://127.0.0.1:9/unused") -> str:
    return CONFIG.format(base=up.base_url, master=MASTER, webhook=webhook_url)


@pytest.fixture(scope="module")
def gw(
    upstream: FakeOpenAI, webhook: Webhook, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(upstream, webhook.url), tmp_path_factory.mktemp("tenancy")) as g:
        Admin(g).wait_ready()
        yield g


@pytest.fixture()
def admin(gw: GatewayProcess) -> Admin:
    return Admin(gw)


def test_key_works_with_sdk_and_reports_cost(gw: GatewayProcess, admin: Admin) -> None:
    secret, created = admin.create_key(alias="sdk")
    assert secret.startswith("sk-")
    with openai.OpenAI(base_url=gw.base_url, api_key=secret, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="cheap", messages=[{"role": "user", "content": "hi"}]
        )
    assert float(raw.headers["x-pllm-cost"]) == pytest.approx(1.0)
    assert raw.parse().usage is not None
    line = gw.access_line(raw.headers["x-request-id"])
    assert (line["key_id"], line["cost"]) == (created["id"], 1.0)
    # x-api-key works as well as the bearer header.
    status, _, _ = http("GET", f"{gw.base_url}/models", key=None)
    assert status == 401


def test_revocation_takes_effect_within_a_second(gw: GatewayProcess, admin: Admin) -> None:
    secret, created = admin.create_key(alias="revoke-me")
    assert chat(gw, secret)[0] == 200
    admin.call("POST", f"/admin/keys/{created['id']}/revoke")
    revoked_at = time.monotonic()
    while chat(gw, secret)[0] == 200:
        assert time.monotonic() - revoked_at < 1.0, "revocation not effective within 1 s"
        time.sleep(0.02)
    status, _, body = chat(gw, secret)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"


def test_unknown_and_missing_keys(gw: GatewayProcess) -> None:
    status, _, body = chat(gw, "sk-not-a-key")
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    status, _, body = chat(gw, None)  # type: ignore[arg-type]
    assert (status, body["error"]["code"]) == (401, "missing_api_key")


def test_allowed_models(gw: GatewayProcess, admin: Admin) -> None:
    secret, _ = admin.create_key(allowed_models=["cheap"])
    assert chat(gw, secret, "cheap")[0] == 200
    status, _, body = chat(gw, secret, "slow")
    assert (status, body["error"]["code"]) == (403, "model_not_allowed")
    _, _, models = http("GET", f"{gw.base_url}/models", key=secret)
    assert [m["id"] for m in models["data"]] == ["cheap"]


def test_rpm_limit(gw: GatewayProcess, admin: Admin) -> None:
    secret, _ = admin.create_key(rpm=3)
    assert [chat(gw, secret)[0] for _ in range(3)] == [200, 200, 200]
    status, headers, body = chat(gw, secret)
    assert (status, body["error"]["code"]) == (429, "rate_limit_exceeded")
    assert int(headers["retry-after"]) >= 1


def test_user_limit_applies_across_its_keys(gw: GatewayProcess, admin: Admin) -> None:
    admin.call("POST", "/admin/users", {"id": "rpm-user", "rpm": 2})
    first, _ = admin.create_key(user_id="rpm-user")
    second, _ = admin.create_key(user_id="rpm-user")
    assert chat(gw, first)[0] == 200
    assert chat(gw, second)[0] == 200
    assert chat(gw, first)[0] == 429


def test_limits_released_on_every_exit_path(gw: GatewayProcess, admin: Admin) -> None:
    secret, _ = admin.create_key(max_parallel=4, rpm=1000)
    outcomes: list[int] = []

    def aborted_stream() -> None:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
            s.sendall(stream_request("slow", secret, close=True))
            time.sleep(0.1)  # the mock answers after 400 ms: leave before that

    def run(kind: str) -> None:
        if kind == "abort":
            aborted_stream()
            return
        model = {"ok": "cheap", "error": "broken", "timeout": "hanging"}[kind]
        outcomes.append(chat(gw, secret, model)[0])

    kinds = ["ok", "error", "timeout", "abort"] * 4
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, kinds))
    assert sorted(set(outcomes)) == [200, 500, 504]
    deadline = time.monotonic() + 3
    while metric(gw, "pllm_limited_in_flight") != 0:
        assert time.monotonic() < deadline, "limiter tickets leaked"
        time.sleep(0.05)
    # All four parallel slots are free again.
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: chat(gw, secret, "slow")[0], range(4))) == [200] * 4


def test_budget_race_200_concurrent(gw: GatewayProcess, admin: Admin) -> None:
    secret, created = admin.create_key(max_budget=10, budget_period="monthly")
    barrier = threading.Barrier(50)

    def one(_: int) -> int:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        status, _, body = chat(gw, secret, max_tokens=16)
        if status == 429:
            assert body["error"]["code"] == "budget_exceeded"
        return status

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(one, range(200)))
    admitted = statuses.count(200)
    assert admitted + statuses.count(429) == 200
    assert 10 <= admitted <= 11
    time.sleep(0.5)  # the spend writer's flush interval is 0.1 s
    budgets = admin.call("GET", "/admin/budgets")["data"]
    mine = next(b for b in budgets if b["id"] == created["id"])
    assert mine["spend"] == pytest.approx(admitted)


def test_spend_survives_restart(
    upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir: Path = tmp_path_factory.mktemp("restart")
    with GatewayProcess(config(upstream), workdir) as g:
        secret, created = Admin(g).wait_ready().create_key(max_budget=2.5)
        assert [chat(g, secret)[0] for _ in range(3)] == [200, 200, 200]
        assert chat(g, secret)[0] == 429
    with GatewayProcess(config(upstream), workdir) as g:
        admin = Admin(g).wait_ready()
        status, _, body = chat(g, secret)
        assert (status, body["error"]["code"]) == (429, "budget_exceeded")
        logs = admin.call("GET", f"/admin/spend/logs?key_id={created['id']}")["data"]
        assert len([r for r in logs if r["status"] == 200]) == 3
        assert sum(r["cost"] for r in logs) == pytest.approx(3.0)


def test_no_secret_anywhere(gw: GatewayProcess, admin: Admin) -> None:
    """A canary key and the master key must not appear in logs, metrics, errors or the DB."""
    secret, created = admin.create_key(alias="canary")
    chat(gw, secret)
    errors = [chat(gw, secret, "no-such-model")[2], chat(gw, secret + "x")[2]]
    status, _, body = http("GET", f"{gw.admin_url}/admin/keys/{created['id']}", key=MASTER)
    assert status == 200 and secret not in str(body)
    time.sleep(0.5)
    _, _, metrics_text = http("GET", f"{gw.url}/metrics")
    places = {"log": gw.logs(), "metrics": str(metrics_text), "errors": json.dumps(errors)}
    for path in (gw.workdir / "pllm-data").rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("latin-1")
    for where, text in places.items():
        assert secret not in text, where
        assert MASTER not in text, where
        assert "Bearer" not in text, where


def test_openapi_and_swagger_on_both_ports(gw: GatewayProcess) -> None:
    for base in (gw.url, gw.admin_url):
        status, _, doc = http("GET", f"{base}/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.")
        status, headers, _ = http("GET", f"{base}/swagger")
        assert status == 200 and headers["content-type"].startswith("text/html")
    _, _, main_doc = http("GET", f"{gw.url}/openapi.json")
    assert "/v1/chat/completions" in main_doc["paths"]


def test_soft_budget_alert_is_logged_counted_and_posted(
    gw: GatewayProcess, admin: Admin, webhook: Webhook
) -> None:
    secret, created = admin.create_key(max_budget=5, soft_budget=2, budget_period="daily")
    assert [chat(gw, secret)[0] for _ in range(3)] == [200, 200, 200]
    deadline = time.monotonic() + 3
    while not any(b["entity"] == f"key:{created['id']}" for b in webhook.bodies):
        assert time.monotonic() < deadline, "no webhook alert"
        time.sleep(0.05)
    alert = next(b for b in webhook.bodies if b["entity"] == f"key:{created['id']}")
    assert alert["kind"] == "soft" and alert["max_budget"] == 5 and alert["spent"] >= 2
    assert metric(gw, "pllm_budget_alerts_total") >= 1
    assert '"budget alert"' in gw.logs()
