"""Three ``pllm serve`` instances sharing one Redis and one PostgreSQL database, as several
hosts would: a key's and a deployment's rpm and a key's budget hold across them, a deployment ejected by one is
avoided by the others, a revocation and a reload reach every instance, and a Redis outage
fails no request (each instance falls back to its share of the limit)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.gateway import GatewayProcess, deployment, free_port
from tests.e2e.tenancy import MASTER, Admin, chat, http
from tests.fakes.openai_upstream import FakeOpenAI
from tests.redis_server import RedisServer, redis_server  # noqa: F401

FAST = deployment("fast", "mock/fast")
FRESH = deployment("fresh", "mock/fresh")
# Nothing listens there: the first of "trio" (trio/3) fails on instance 0 only.
CLOSED = f"http://127.0.0.1:{free_port()}/v1"
BAD = "trio/3"


def models(i: int, upstream: FakeOpenAI) -> list[dict[str, Any]]:
    """Instance i's model list: the same deployments (ids are "<model>/<index>") everywhere,
    but trio/3 points at a closed port on instance 0."""
    up = {"api_base": upstream.base_url, "api_key": "sk-fake"}
    return [
        FAST,
        # 16 completion tokens at $1/16: every request costs exactly $1 (max_tokens=16).
        deployment("cheap", "mock/cheap", mock_reply_tokens=16, output_cost_per_token=0.0625),
        deployment("limited", "openai/gpt-limited", rpm=30, **up),
        deployment(
            "trio", "openai/gpt-trio", **{**up, "api_base": CLOSED if i == 0 else up["api_base"]}
        ),
        deployment("trio", "openai/gpt-trio", **up),
        deployment("trio", "openai/gpt-trio", **up),
    ]


def config(data_dir: Path, database_url: str, redis_url: str, *models: dict[str, Any]) -> str:
    return json.dumps(
        {
            "model_list": list(models or [FAST]),
            "general_settings": {
                "master_key": MASTER,
                "data_dir": str(data_dir),
                "database_url": database_url,
            },
            "router_settings": {
                "num_retries": 0,
                "redis_url": redis_url,
                "consecutive_failures": 2,
                "cooldown_time": 30,
            },
        }
    )


@pytest.fixture(scope="module")
def cluster(
    redis_server: RedisServer,  # noqa: F811
    postgres_server: Any,
    upstream: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[GatewayProcess]]:
    postgres_server.psql("CREATE DATABASE cluster_e2e")
    url = postgres_server.url_for("cluster_e2e")
    gateways: list[GatewayProcess] = []
    try:
        for i in range(3):
            root = tmp_path_factory.mktemp(f"instance{i}")
            gw = GatewayProcess(
                config(root / "data", url, redis_server.url, *models(i, upstream)), root
            )
            gateways.append(gw.start(timeout=30))
            Admin(gw).wait_ready()
        yield gateways
    finally:
        for gw in gateways:
            gw.stop()


def ready(gw: GatewayProcess) -> dict[str, Any]:
    _, _, body = http("GET", f"{gw.url}/ready")
    assert isinstance(body, dict)
    return body


def wait_until(check: Any, timeout: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "not within the time allowed"
        time.sleep(0.05)
    return time.monotonic() - started


def test_every_instance_reports_redis_connected(cluster: list[GatewayProcess]) -> None:
    for gw in cluster:
        wait_until(lambda gw=gw: ready(gw).get("redis") == "connected", 5)  # type: ignore[misc]


def test_a_key_rpm_30_admits_at_most_32_of_90_across_three_instances(
    cluster: list[GatewayProcess],
) -> None:
    secret, _ = Admin(cluster[0]).create_key(rpm=30)
    time.sleep(1.0)  # every instance's key cache has refreshed from the database
    rotation = itertools.cycle(cluster)
    statuses = [chat(next(rotation), secret, model="fast")[0] for _ in range(90)]
    assert set(statuses) <= {200, 429}
    assert 28 <= statuses.count(200) <= 32, statuses


def test_a_deployment_rpm_30_lets_at_most_32_of_90_reach_the_upstream(
    cluster: list[GatewayProcess], upstream: FakeOpenAI
) -> None:
    upstream.clear()
    rotation = itertools.cycle(cluster)
    statuses = [chat(next(rotation), MASTER, model="limited")[0] for _ in range(90)]
    seen = [r for r in upstream.requests if (r.json or {}).get("model") == "gpt-limited"]
    assert 28 <= len(seen) <= 32, (len(seen), statuses)
    assert statuses.count(200) == len(seen)


def attempts(gw: GatewayProcess, deployment_id: str) -> float:
    _, _, text = http("GET", f"{gw.url}/metrics")
    label = f'deployment="{deployment_id}"'
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in str(text).splitlines()
        if line.startswith("pllm_attempts_total{") and label in line
    )


def test_a_deployment_ejected_on_one_instance_is_avoided_by_the_others(
    cluster: list[GatewayProcess],
) -> None:
    a, b, c = cluster
    # On a, trio/3 (the model list's fourth entry) answers nothing: 2 consecutive failures
    # eject it (for 30 s).
    for _ in range(30):
        chat(a, MASTER, model="trio")
        if attempts(a, BAD) >= 2:
            break
    assert attempts(a, BAD) >= 2
    assert f"deployment {BAD} ejected" in a.logs()
    time.sleep(1.0)  # published within 100 ms, applied within the next 100 ms
    before = attempts(b, BAD) + attempts(c, BAD)
    statuses = [chat(gw, MASTER, model="trio")[0] for _ in range(10) for gw in (b, c)]
    assert statuses == [200] * 20
    assert attempts(b, BAD) + attempts(c, BAD) - before <= 2


@pytest.mark.parametrize("scope", ["key", "user"])
def test_a_budget_of_10_requests_admits_at_most_11_across_three_instances(
    cluster: list[GatewayProcess], scope: str
) -> None:
    admin = Admin(cluster[0])
    budget = {"max_budget": 10, "budget_period": "monthly"}
    if scope == "key":
        secret, created = admin.create_key(**budget)
        secrets = [secret]
    else:
        # Two keys of one user: the user's budget holds whichever key and instance is used.
        admin.call("POST", "/admin/users", {"id": "budget-user", **budget})
        secrets = [admin.create_key(user_id="budget-user")[0] for _ in range(2)]
    time.sleep(1.0)
    targets = [(cluster[i % 3], secrets[i % len(secrets)]) for i in range(60)]

    def one(target: tuple[GatewayProcess, str]) -> int:
        status, _, body = chat(target[0], target[1], model="cheap", max_tokens=16)
        if status == 429:
            assert body["error"]["code"] == "budget_exceeded"
        return status

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(one, targets))
    admitted = statuses.count(200)
    assert admitted + statuses.count(429) == 60
    assert 8 <= admitted <= 11, statuses
    time.sleep(1.5)  # flushed, synced
    # The leases err low: what the burst left of the budget may still be spent, then every
    # instance refuses, and the total stays within one request of the budget.
    for gw in cluster:
        while (status := chat(gw, secrets[0], model="cheap", max_tokens=16)[0]) == 200:
            admitted += 1
            assert admitted <= 11
        assert status == 429
    if scope == "key":
        budgets = admin.call("GET", "/admin/budgets")["data"]
        mine = next(b for b in budgets if b["id"] == created["id"])
        assert mine["spend"] == pytest.approx(admitted)


def test_a_key_revoked_on_one_instance_is_refused_by_another_within_a_second(
    cluster: list[GatewayProcess],
) -> None:
    a, b, _ = cluster
    secret, key = Admin(a).create_key()
    wait_until(lambda: chat(b, secret, model="fast")[0] == 200, 3)
    Admin(a).call("POST", f"/admin/keys/{key['id']}/revoke")
    assert wait_until(lambda: chat(b, secret, model="fast")[0] == 401, 1.0) < 1.0


def test_a_reload_on_one_instance_is_applied_by_the_others_within_5_s(
    cluster: list[GatewayProcess],
    redis_server: RedisServer,  # noqa: F811
    postgres_server: Any,
    upstream: FakeOpenAI,
) -> None:
    url = postgres_server.url_for("cluster_e2e")
    for i, gw in enumerate(cluster):
        listed = [*models(i, upstream), FRESH]
        gw.config.write_text(config(gw.workdir / "data", url, redis_server.url, *listed))
    before = [ready(gw)["config_revision"] for gw in cluster]
    status, _, _ = http("POST", f"{cluster[0].admin_url}/admin/config/reload", None, MASTER)
    assert status == 200
    started = time.monotonic()
    for gw, old in zip(cluster[1:], before[1:], strict=True):
        wait_until(lambda gw=gw, old=old: ready(gw)["config_revision"] != old, 5)  # type: ignore[misc]
    assert time.monotonic() - started < 5
    for gw in cluster:
        assert chat(gw, MASTER, model="fresh")[0] == 200


def test_redis_down_fails_no_request_and_limits_fall_back_to_the_local_share(
    cluster: list[GatewayProcess],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    secret, key = Admin(cluster[0]).create_key(rpm=30)
    time.sleep(1.0)
    redis_server.stop()
    try:
        for gw in cluster:
            wait_until(lambda gw=gw: ready(gw).get("redis") == "degraded", 5)  # type: ignore[misc]
        # Each instance admits its share, 30 // 3 = 10: never unlimited, never nothing.
        rotation = itertools.cycle(cluster)
        statuses = [chat(next(rotation), secret, model="fast")[0] for _ in range(60)]
        assert set(statuses) <= {200, 429}
        assert 27 <= statuses.count(200) <= 33, statuses
        assert all(ready(gw)["status"] == "ready" for gw in cluster)
    finally:
        redis_server.start()
    # No spend record lost or duplicated: one per request (refused ones too), whatever Redis
    # did meanwhile.
    logged = lambda: Admin(cluster[0]).call(  # noqa: E731
        "GET", f"/admin/spend/logs?key_id={key['id']}&limit=1000"
    )["data"]
    wait_until(lambda: len(logged()) >= len(statuses), 10)
    records = logged()
    assert len({r["request_id"] for r in records}) == len(records) == len(statuses)
    assert sum(r["status"] == 200 for r in records) == statuses.count(200)
    for gw in cluster:
        wait_until(lambda gw=gw: ready(gw).get("redis") == "connected", 10)  # type: ignore[misc]
    # Exact again: a new key's 30 across the three instances.
    fresh, _ = Admin(cluster[0]).create_key(rpm=30)
    time.sleep(1.0)
    rotation = itertools.cycle(cluster)
    statuses = [chat(next(rotation), fresh, model="fast")[0] for _ in range(60)]
    assert 28 <= statuses.count(200) <= 32, statuses
    for gw in cluster:
        assert "redis unavailable" in gw.logs()
        assert gw.logs().count("redis unavailable") == 1
