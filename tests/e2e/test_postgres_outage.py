"""The gateway on a real PostgreSQL server that goes away: known keys keep working, unknown
ones get 503 (never 401), and spend written during the outage reaches the database once it
is back — 1,000 records with the server killed mid-run: none lost, none duplicated."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.gateway import GatewayProcess
from tests.e2e.tenancy import MASTER, Admin, chat, http
from tests.pg import PostgresServer

_databases = itertools.count(1)

CONFIG = """
model_list:
  - model_name: cheap
    litellm_params:
      model: mock/cheap
      mock_reply_tokens: 4
      output_cost_per_token: 0.25
general_settings:
  master_key: {master}
  database_url: {url}
  auth_refresh_interval: 0.1
  spend_flush_interval: 0.1
"""


@pytest.fixture(scope="module")
def pg_gateway(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, PostgresServer, str]]:
    name = f"e2e_{next(_databases)}"
    postgres_server.psql(f"CREATE DATABASE {name}")
    url = postgres_server.url_for(name).replace("+asyncpg", "")
    with GatewayProcess(CONFIG.format(master=MASTER, url=url), tmp_path_factory.mktemp("pg")) as gw:
        Admin(gw).wait_ready()
        yield gw, postgres_server, name


def spend_ids(server: PostgresServer, database: str) -> list[str]:
    out = server.psql("SELECT request_id FROM pllm_spend", database)
    return [line for line in out.splitlines() if line]


def wait_for_rows(server: PostgresServer, database: str, wanted: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = spend_ids(server, database)
        if wanted <= set(found) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    missing = wanted - set(found)
    assert not missing, f"{len(missing)} spend records never reached the database"
    assert len(found) == len(set(found)), "duplicated spend records"


def test_outage_known_keys_work_unknown_get_503(
    pg_gateway: tuple[GatewayProcess, PostgresServer, str],
) -> None:
    gw, server, database = pg_gateway
    admin = Admin(gw)
    known, _ = admin.create_key(alias="known")
    never_used, _ = admin.create_key(alias="cold")
    assert chat(gw, known)[0] == 200
    server.stop("immediate")
    try:
        statuses = [chat(gw, known)[0] for _ in range(5)]
        assert statuses == [200] * 5
        status, _, body = chat(gw, never_used)
        assert (status, body["error"]["code"]) == (503, "auth_unavailable")
        status, _, _ = chat(gw, "sk-never-existed")
        assert status == 503
        assert chat(gw, MASTER)[0] == 200
    finally:
        server.start()
    assert chat(gw, never_used)[0] == 200  # the store is back: the cold key loads
    time.sleep(1.0)
    rows = server.psql("SELECT count(*) FROM pllm_spend WHERE status = 200", database)
    assert int(rows) >= 8


def test_1000_records_with_the_database_killed_mid_run(
    pg_gateway: tuple[GatewayProcess, PostgresServer, str],
) -> None:
    gw, server, database = pg_gateway
    before = set(spend_ids(server, database))
    sent: list[str] = []
    lock = threading.Lock()
    done = itertools.count()

    def one(i: int) -> None:
        body = {"model": "cheap", "messages": [{"role": "user", "content": "x"}]}
        status, headers, _ = http(
            "POST", f"{gw.base_url}/chat/completions", body, MASTER, timeout=30
        )
        assert status == 200
        with lock:
            sent.append(headers["x-request-id"])
        n = next(done)
        if n == 300:
            server.stop("immediate")
        elif n == 700:
            server.start()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(1000)))
    if not (server.data / "postmaster.pid").exists():
        server.start()
    assert len(sent) == 1000
    wait_for_rows(server, database, set(sent), timeout=30)
    after = set(spend_ids(server, database))
    assert len(after - before) == 1000
