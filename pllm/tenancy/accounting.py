"""One worker's bookkeeping: the store connection, the budget ledger, the spend writer.

Spend records go to a local spool on the request path and reach the database in batches off
it. Budgets are kept in memory (reserve before, settle after) and re-read from the store's
daily counters every ``_SYNC_INTERVAL`` so that other workers' and instances' spend counts
too. Flushing a batch and re-reading counters hold the same lock, so a counter read never
misses or double-counts a batch this worker is writing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pllm.budgets.ledger import BudgetAlert, BudgetLedger
from pllm.budgets.periods import day_key, period_start
from pllm.call import Call
from pllm.config import Settings
from pllm.http import Request
from pllm.observability.metrics import Labels, Metrics
from pllm.principal import BudgetPeriod, Principal
from pllm.spend.election import WriterElection
from pllm.spend.record import SpendRecord
from pllm.spend.spool import Spool
from pllm.spend.writer import SpendWriter
from pllm.store.urls import StoreUnavailable, resolve_url
from pllm.tenancy.gate import Gate, log_alert

if TYPE_CHECKING:
    from pllm.store.engine import Store

log = logging.getLogger("pllm.accounting")

_SYNC_INTERVAL = 1.0
_REOPEN_INTERVAL = 2.0
# Records per database write. Each write has ~3 ms of fixed event-loop work (transaction,
# counter upsert), so batches are as large as a pause the requests in flight can bear.
_SPEND_BATCH = 500
_WEBHOOK_TIMEOUT = 5.0
_encode = msgspec.json.Encoder().encode


class Accounting:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        general = settings.general
        self.url = resolve_url(general.database_url, general.data_dir)
        self.spool_dir = os.path.join(general.data_dir, "spool")
        self.metrics = metrics
        self.ledger = BudgetLedger(on_alert=self._alert)
        self.store: Store | None = None
        self.writer: SpendWriter | None = None
        self._flush_interval = general.spend_flush_interval
        self._webhook = general.budget_alert_webhook
        self._lock = asyncio.Lock()
        self._sync_task: asyncio.Task[None] | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self.first_attempt_done = False
        self._on_open: Callable[[Store], None] = lambda _: None
        self._background: set[asyncio.Task[None]] = set()

    async def start(self, on_open: Callable[[Store], None]) -> None:
        """Starts the spend writer at once and connects the store in the background, so the
        worker serves from its first moment: until the store is there (being loaded and
        opened, or down) spend is spooled and unknown keys get 503; known credentials and
        the master key work throughout."""
        self._on_open = on_open
        # The workers of one host: one of them writes every worker's records (election).
        shared = bool(os.environ.get("PLLM_SHARED_DIR"))
        self.writer = SpendWriter(
            Spool.open(self.spool_dir),
            self._sink,
            interval=self._flush_interval,
            batch_size=_SPEND_BATCH,
            log=log,
            election=WriterElection(Path(self.spool_dir)) if shared else None,
            on_handed=self.ledger.on_flushed,
        )
        self.writer.start()
        loop = asyncio.get_running_loop()
        self._connect_task = loop.create_task(self._keep_opening())
        self._sync_task = loop.create_task(self._sync_loop())

    async def wait_connected(self) -> None:
        """Until the store is open (for tests and tools; serving never waits on it)."""
        if self._connect_task is not None:
            await asyncio.shield(self._connect_task)

    async def _open(self) -> bool:
        try:
            # SQLAlchemy and the drivers take a few hundred ms to import: on a thread, so
            # the event loop serves meanwhile.
            await asyncio.to_thread(_load_store_modules)
            from pllm.store.schema import open_at_head

            store = await open_at_head(self.url)
        except Exception as e:  # the URL may hold a password: name the failure only
            log.warning("store unavailable at start", extra={"fields": {"error": type(e).__name__}})
            return False
        self.store = store
        self._on_open(self.store)
        return True

    async def _keep_opening(self) -> None:
        opened = await self._open()
        self.first_attempt_done = True
        while not opened:
            await asyncio.sleep(_REOPEN_INTERVAL)
            opened = await self._open()
            if opened:
                log.info("store connected")

    async def stop(self) -> None:
        for task in (self._sync_task, self._connect_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.writer is not None:
            await self.writer.stop()
        if self._background:
            await asyncio.wait(self._background, timeout=_WEBHOOK_TIMEOUT)
        if self.store is not None:
            await self.store.close()

    # --- request path -------------------------------------------------------------------

    def record(self, req: Request, call: Call, endpoint: str) -> None:
        """The request's spend record, to the spool (one write, no I/O wait)."""
        if self.writer is None:
            return
        usage = call.usage
        principal = call.principal
        head_at = call.upstream_head_at
        cost = call.cost or 0.0
        self.writer.append(
            SpendRecord(
                request_id=req.request_id,
                ts=req.arrived_at,
                endpoint=endpoint,
                status=req.status,
                latency_ms=round(req.elapsed_ms(), 3),
                key_id=principal.key_id,
                user_id=principal.user_id,
                group_ids=principal.group_ids,
                model=call.model,
                deployment=call.deployment,
                prompt_tokens=usage.prompt_tokens if usage is not None else 0,
                completion_tokens=usage.completion_tokens if usage is not None else 0,
                cached_tokens=usage.cached_tokens() if usage is not None else 0,
                cost=cost,
                ttft_ms=(
                    round((head_at - req.started_at) * 1000, 3) if head_at is not None else None
                ),
                attempts=call.attempts,
                streamed=call.stream,
                cache_hit=call.cache_hit,
                error=req.error,
            )
        )

    def samples(self, gate: Gate) -> list[tuple[str, Labels, float]]:
        """Gauges read when /metrics is scraped."""
        out: list[tuple[str, Labels, float]] = [
            ("pllm_limited_in_flight", (), float(gate.limiter.in_flight_total()))
        ]
        if self.writer is not None:
            out.append(("pllm_spend_records_written_total", (), float(self.writer.written)))
            out.append(("pllm_spend_records_pending", (), float(self.writer.pending())))
            out.append(("pllm_spend_writer_lag_seconds", (), round(self.writer.lag(), 3)))
        return out

    # --- the store side -----------------------------------------------------------------

    async def _sink(self, records: list[SpendRecord]) -> Mapping[str, float]:
        if self.store is None:
            raise StoreUnavailable("the store is not connected yet")
        from pllm.store.spend_store import insert_spend

        async with self._lock:
            added = await insert_spend(self.store, records)
            self.ledger.on_flushed(added)
        return added

    async def load_budgets(self, principals: Sequence[Principal]) -> None:
        """Reads the current period's spend of budgets the ledger has not seen yet."""
        entities = {b.entity: b.period for p in principals for b in p.budgets}
        await self._sync(entities)
        if self.ledger.cluster is not None:
            # Several instances: this one's first lease of each budget's headroom.
            await self.ledger.cluster.prefetch([b for p in principals for b in p.budgets])

    async def _sync(self, entities: Mapping[str, BudgetPeriod]) -> None:
        if not entities or self.store is None:
            return
        from pllm.store.spend_store import period_spend

        async with self._lock:
            now = time.time()
            starts = {e: period_start(period, now) for e, period in entities.items()}
            spent = await period_spend(
                self.store, [(e, day_key(start)) for e, start in starts.items()]
            )
            for entity, start in starts.items():
                self.ledger.sync(entity, start, spent.get(entity, 0.0))

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(_SYNC_INTERVAL)
            tracked = {entity: period for entity, period, _ in self.ledger.tracked()}
            try:
                await self._sync(tracked)
            except StoreUnavailable:
                pass  # the writer logs the outage; local reservations keep budgets safe
            except Exception:
                log.exception("budget sync failed")

    # --- alerts -------------------------------------------------------------------------

    def _alert(self, alert: BudgetAlert) -> None:
        log_alert(alert, self.metrics)
        if self._webhook is not None:
            task = asyncio.get_running_loop().create_task(self._post(alert))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _post(self, alert: BudgetAlert) -> None:
        assert self._webhook is not None
        body = _encode(
            {
                "type": "budget_alert",
                "kind": alert.kind,
                "entity": alert.entity,
                "spent": alert.spent,
                "soft_budget": alert.soft_budget,
                "max_budget": alert.max_budget,
                "period": alert.period,
            }
        )
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's config
            self._webhook, data=body, headers={"content-type": "application/json"}
        )
        try:
            await asyncio.to_thread(_post_now, request)
        except Exception as e:  # the URL may hold a token: log the kind of failure only
            log.warning(
                "budget alert webhook failed", extra={"fields": {"error": type(e).__name__}}
            )


def _load_store_modules() -> None:
    import pllm.store.engine
    import pllm.store.principals
    import pllm.store.schema
    import pllm.store.spend_store  # noqa: F401


def _post_now(request: urllib.request.Request) -> None:
    with urllib.request.urlopen(request, timeout=_WEBHOOK_TIMEOUT):  # noqa: S310
        pass
