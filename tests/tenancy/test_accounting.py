"""Accounting: spend records reach the store through the spool, budgets sync from the store's
counters, and a worker that starts while the database is down connects when it comes back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from pllm.budgets.ledger import BudgetExceeded
from pllm.call import Call
from pllm.config.schema import GeneralSettings, Settings
from pllm.http import Request
from pllm.observability.metrics import Metrics
from pllm.pricing.table import Price
from pllm.principal import Budget, Principal
from pllm.store.engine import Store
from pllm.store.spend_store import count_spend, spend_logs
from pllm.tenancy.accounting import Accounting
from pllm.usage import Usage
from tests.pg import PostgresServer


async def _never(*_: Any) -> Any:
    raise AssertionError("not called")


def settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    general = GeneralSettings(
        data_dir=str(tmp_path), database_url=database_url, spend_flush_interval=0.05
    )
    return Settings(file="t.yaml", deployments=(), general=general)


def finished_request(n: int, principal: Principal) -> tuple[Request, Call]:
    req = Request({"path": "/v1/chat/completions", "headers": []}, _never, _never)
    req.request_id = f"req-{n}"
    req.status = 200
    call = Call()
    call.principal = principal
    call.model, call.deployment, call.attempts = "m", "m/0", 1
    call.usage = Usage(3, 2, 5)
    call.cost = Price(input=0.0, output=0.5).cost(3, 2, 0)
    return req, call


async def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def test_records_reach_the_store_and_budgets_sync(tmp_path: Path) -> None:
    async def main() -> None:
        accounting = Accounting(settings(tmp_path), Metrics())
        started.append(accounting)
        opened: list[Store] = []
        await accounting.start(on_open=opened.append)
        await accounting.wait_connected()
        assert opened and accounting.store is opened[0]
        store = opened[0]
        p = Principal(kind="key", role="member", key_id="k1", user_id="u1", group_ids=("g1",))
        for n in range(20):
            accounting.record(*finished_request(n, p), "chat/completions")

        async def all_written() -> bool:
            return await count_spend(store) == 20

        await wait_for(all_written)
        rows = await spend_logs(store, key_id="k1", limit=100)
        assert {r.request_id for r in rows} == {f"req-{n}" for n in range(20)}
        assert all(r.cost == 1.0 and r.group_ids == ("g1",) for r in rows)
        # A budget on the key sees the spend already in the store.
        budgeted = Principal(
            kind="key", role="member", key_id="k1", budgets=(Budget("key:k1", 100.0),)
        )
        await accounting.load_budgets([budgeted])
        hold = accounting.ledger.reserve(budgeted.budgets, 0.0)
        assert accounting.ledger.spent("key:k1") == 20.0
        assert not isinstance(hold, BudgetExceeded)
        accounting.ledger.cancel(hold)

    async def guarded() -> None:
        try:
            await main()
        finally:
            for accounting in started:
                await accounting.stop()

    started: list[Accounting] = []
    asyncio.run(guarded())


def test_worker_started_while_the_database_is_down_connects_later(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    postgres_server.psql("CREATE DATABASE late_start")
    url = postgres_server.url_for("late_start")
    postgres_server.stop("immediate")

    async def main() -> None:
        accounting = Accounting(settings(tmp_path, url), Metrics())
        opened: list[Store] = []
        try:
            await accounting.start(on_open=opened.append)
            assert accounting.store is None and not opened
            accounting.record(*finished_request(1, Principal(kind="open", role="admin")), "chat")
            await asyncio.to_thread(postgres_server.start)

            async def connected() -> bool:
                return bool(opened)

            await wait_for(connected, timeout=15)

            async def written() -> bool:
                return await count_spend(opened[0]) == 1

            await wait_for(written)
        finally:
            await accounting.stop()

    try:
        asyncio.run(main())
    finally:
        if not (postgres_server.data / "postmaster.pid").exists():
            postgres_server.start()
