"""Three ``pllm serve`` instances sharing one Redis and one PostgreSQL database, as several
hosts would: a key's rpm holds across them, a revocation and a reload reach every instance,
and a Redis outage fails no request (each instance falls back to its share of the limit)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.gateway import GatewayProcess, deployment
from tests.e2e.tenancy import MASTER, Admin, chat, http
from tests.redis_server import RedisServer, redis_server  # noqa: F401

FAST = deployment("fast", "mock/fast")
FRESH = deployment("fresh", "mock/fresh")


def config(data_dir: Path, database_url: str, redis_url: str, *models: dict[str, Any]) -> str:
    return json.dumps(
        {
            "model_list": list(models or [FAST]),
            "general_settings": {
                "master_key": MASTER,
                "data_dir": str(data_dir),
                "database_url": database_url,
            },
            "router_settings": {"num_retries": 0, "redis_url": redis_url},
        }
    )


@pytest.fixture(scope="module")
def cluster(
    redis_server: RedisServer,  # noqa: F811
    postgres_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[GatewayProcess]]:
    postgres_server.psql("CREATE DATABASE cluster_e2e")
    url = postgres_server.url_for("cluster_e2e")
    gateways: list[GatewayProcess] = []
    try:
        for i in range(3):
            root = tmp_path_factory.mktemp(f"instance{i}")
            gw = GatewayProcess(config(root / "data", url, redis_server.url), root)
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
) -> None:
    url = postgres_server.url_for("cluster_e2e")
    for gw in cluster:
        gw.config.write_text(config(gw.workdir / "data", url, redis_server.url, FAST, FRESH))
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
    secret, _ = Admin(cluster[0]).create_key(rpm=30)
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
