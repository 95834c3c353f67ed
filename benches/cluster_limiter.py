"""Per-request cost of the cluster limiter and budget leases (Redis mode) against the local
limiter and ledger.

Runs acquire + release of one key with rpm and tpm limits on each, and reserve + settle of
one key's budget on a ledger with and without the cluster's leases, with the lease refills
running on the same event loop as a gateway's would, against a throwaway redis-server
(tests.redis_server), and prints ns per request and Redis commands per request.

    .venv/bin/python -m benches.cluster_limiter
"""

from __future__ import annotations

import asyncio
import time

import pllm_accel
from pllm.budgets.ledger import BudgetLedger, Reservation
from pllm.cluster.budgets import BudgetLeases, RedisLeases
from pllm.cluster.limiter import ClusterLimiter
from pllm.cluster.link import Link
from pllm.config.schema import RedisSettings
from pllm.principal import Budget
from tests.redis_server import RedisServer

REQUESTS = 200_000
ENTITY = [("key:bench", 1_000_000_000, 4_000_000_000, None)]
# A budget that lasts the run: each request reserves $0.01 and settles $0.005.
BUDGETS = (Budget("key:bench", 1e9, "monthly"),)


def local() -> float:
    lim = pllm_accel.Limiter()
    started = time.perf_counter()
    for _ in range(REQUESTS):
        ticket = lim.acquire(ENTITY, 100)
        assert isinstance(ticket, int)
        lim.release(ticket, 100)
    return (time.perf_counter() - started) / REQUESTS * 1e9


async def cluster(url: str) -> tuple[float, float]:
    link = Link(RedisSettings(url=url), "bench")
    lim = ClusterLimiter(link, lambda: 3)
    refills = asyncio.get_running_loop().create_task(lim.refill())
    info = await link.client.info("stats")
    before = int(info["total_commands_processed"])
    started = time.perf_counter()
    for i in range(REQUESTS):
        ticket = lim.acquire(ENTITY, 100)
        if isinstance(ticket, int):
            lim.release(ticket, 100)
        if i % 64 == 0:
            await asyncio.sleep(0)  # a gateway's loop serves other work between requests
    elapsed = time.perf_counter() - started
    info = await link.client.info("stats")
    commands = int(info["total_commands_processed"]) - before - 1
    refills.cancel()
    await link.close()
    return elapsed / REQUESTS * 1e9, commands / REQUESTS


async def budgets(url: str | None) -> tuple[float, float]:
    """reserve + settle on a ledger, with the cluster's leases when ``url`` is given."""
    ledger = BudgetLedger()
    leases = None
    if url is not None:
        leases = BudgetLeases(RedisLeases(Link(RedisSettings(url=url), "bench-budgets")), lambda: 3)
        ledger.cluster = leases
        await leases.prefetch(BUDGETS)
        refills = asyncio.get_running_loop().create_task(leases.refill())
        info = await leases.store.link.client.info("stats")
        before = int(info["total_commands_processed"])
    started = time.perf_counter()
    for i in range(REQUESTS):
        hold = ledger.reserve(BUDGETS, 0.01)
        assert isinstance(hold, Reservation)
        ledger.settle(hold, 0.005)
        if i % 64 == 0:
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    commands = 0.0
    if leases is not None:
        info = await leases.store.link.client.info("stats")
        commands = int(info["total_commands_processed"]) - before - 1
        refills.cancel()
        await leases.store.link.close()
    return elapsed / REQUESTS * 1e9, commands / REQUESTS


def main() -> None:
    server = RedisServer()
    try:
        ns_local = local()
        ns_cluster, per_request = asyncio.run(cluster(server.url))
        ns_ledger, _ = asyncio.run(budgets(None))
        ns_leases, budget_commands = asyncio.run(budgets(server.url))
    finally:
        server.cleanup()
    print(f"local limiter:   {ns_local:8.0f} ns per request (acquire + release)")
    print(f"cluster limiter: {ns_cluster:8.0f} ns per request, {per_request:.5f} Redis commands")
    print(f"local ledger:    {ns_ledger:8.0f} ns per request (reserve + settle)")
    print(f"ledger + leases: {ns_leases:8.0f} ns per request, {budget_commands:.5f} Redis commands")


if __name__ == "__main__":
    main()
