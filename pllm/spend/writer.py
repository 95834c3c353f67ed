"""Drains the spend spool into the database in batches, riding out outages and shutdowns.

Requests call ``append`` (one encode; the records of one event-loop iteration are written
together at its end). A background task on the worker's event loop reads the spool in batches of
``batch_size``, hands each to the sink (which inserts the rows idempotently on ``request_id``
and returns the cost it added per entity), and only then moves the spool's offset. So a
record leaves the spool exactly when the database has it. A crash between the database commit
and the offset save re-sends that one batch on the next start, which the database ignores:
that is the only way a record reaches the sink twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from pllm.spend.election import WriterElection
from pllm.spend.record import SpendRecord
from pllm.spend.spool import Spool

Sink = Callable[[list[SpendRecord]], Awaitable[Mapping[str, float]]]
BACKOFF_CAP = 5.0
_LOST_LOG_EVERY = 60.0  # seconds between log lines while appends fail (disk full)


class SpendWriter:
    """Background drain of one process's spool. Counters are plain attributes for metrics."""

    def __init__(
        self,
        spool: Spool,
        sink: Sink,
        *,
        on_flushed: Callable[[Mapping[str, float]], None] | None = None,
        interval: float = 0.5,
        batch_size: int = 500,
        log: logging.Logger,
        election: WriterElection | None = None,
        on_handed: Callable[[Mapping[str, float]], None] | None = None,
    ) -> None:
        """``election``: with several workers, only its winner drains (the others seal their
        segments for it, :mod:`pllm.spend.election`); ``on_handed`` then hears, per entity, the
        cost of this process's records once the winner has put them in the database."""
        if batch_size < 1 or interval <= 0:
            raise ValueError("batch_size must be >= 1 and interval > 0")
        self.written = 0  # records the sink acknowledged
        self.failures = 0  # drain attempts that failed (the sink raised, or spool I/O did)
        self.lost = 0  # records append could not spool (disk full, unwritable data dir)
        self._spool = spool
        self._sink = sink
        self._on_flushed = on_flushed
        self._interval = interval
        self._batch_size = batch_size
        self._log = log
        self._lock = asyncio.Lock()  # one drain pass at a time (the loop, flush, stop)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._streak = 0  # consecutive sink failures; > 0 means an outage is on
        self._outage_since = 0.0
        self._lost_logged = -_LOST_LOG_EVERY
        self._loop: asyncio.AbstractEventLoop | None = None  # set while the drain runs
        self._write_pending = False  # a write of staged records is scheduled
        self._caught_up_at = time.monotonic()  # when a drain pass last left nothing behind
        self._election = election
        self._on_handed = on_handed
        # Cost per entity of the records in the live segment, and in each sealed one.
        self._unsealed: dict[str, float] = {}
        self._sealed: dict[Path, dict[str, float]] = {}

    @property
    def rejected(self) -> int:
        """Lines that did not decode, moved to ``rejected.log``."""
        return self._spool.rejected

    def lag(self) -> float:
        """Seconds the store is behind: since the spool was last drained empty, while
        records wait in it (0 when none does)."""
        if self.pending() == 0:
            return 0.0
        return max(0.0, time.monotonic() - self._caught_up_at)

    def pending(self) -> int:
        """Records in the spool not yet acknowledged (estimated; see ``Spool.pending``)."""
        return self._spool.pending()

    def start(self) -> None:
        """Start the background drain on the running loop."""
        if self._task is not None:
            raise RuntimeError("SpendWriter already started")
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="spend-writer")

    def append(self, record: SpendRecord) -> None:
        """Spool one record. Never raises for I/O: the request it describes was served.

        While the drain runs on a loop, the record is staged and written with the others that
        finish in the same loop iteration (one ``write`` for all of them, at the end of the
        iteration); without a loop it is written at once."""
        spool = self._spool
        spool.stage(record)
        if self._election is not None:
            for entity in record.entities():
                self._unsealed[entity] = self._unsealed.get(entity, 0.0) + record.cost
        if self._loop is None:
            self._write_staged()
        elif not self._write_pending:
            self._write_pending = True
            self._loop.call_soon(self._write_staged)

    def _write_staged(self) -> None:
        self._write_pending = False
        staged = self._spool.staged
        try:
            self._spool.write_staged()
        except OSError:
            self.lost += staged
            now = time.monotonic()
            if now - self._lost_logged >= _LOST_LOG_EVERY:
                self._lost_logged = now
                self._log.exception("could not spool a spend record (%d lost so far)", self.lost)

    async def flush(self) -> bool:
        """Drain everything now. True when the spool is empty; False if the sink failed (the
        records stay spooled and the background task retries them)."""
        async with self._lock:
            return await self._pass()

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (a budget, not a cap)
        """Stop the task, then drain what is left within ``timeout`` seconds, retrying a failing
        sink until then. What is still left stays in the spool for the next start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._stopping = True
        self._loop = None
        self._write_staged()
        self._wake.set()
        task, self._task = self._task, None
        try:
            async with asyncio.timeout_at(deadline):
                if task is not None and not task.done():
                    await task  # its pass in progress; cancelled at the deadline
                while True:
                    if await self.flush():
                        break
                    await asyncio.sleep(self._backoff())
        except TimeoutError:
            pass
        finally:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            left = self._spool.pending()
            self._spool.close()
            if self._election is not None:
                self._election.close()
        if left:
            self._log.warning(
                "spend writer stopped with about %d records left in %s; the next start sends them",
                left,
                self._spool.directory,
            )

    async def _run(self) -> None:
        delay = self._interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if self._stopping:
                return
            async with self._lock:
                ok = await self._pass()
            delay = self._interval if ok else self._backoff()

    async def _pass(self) -> bool:
        # Nothing but cancellation may escape: the background task must outlive any error.
        try:
            if self._election is not None and not self._stopping and not self._election.lead():
                self._hand_over()
                return True
            return await self._drain()
        except Exception as exc:  # a spool I/O error (disk full) or a bug: same backoff
            self._failed(exc, trace=True)
            return False

    async def _drain(self) -> bool:
        spool = self._spool
        if spool.staged:
            self._write_staged()
        try:
            while (batch := spool.read_batch(self._batch_size)) is not None:
                added: Mapping[str, float] = {}
                if batch.records:
                    try:
                        added = await self._sink(batch.records)
                    except Exception as exc:  # database down or the call failed: keep, retry
                        self._failed(exc, trace=False)
                        return False
                if added and self._on_flushed is not None:
                    # Before the commit: the database has the rows whatever happens to our
                    # offset, and a re-send would add nothing (the insert is idempotent).
                    try:
                        self._on_flushed(added)
                    except Exception:
                        self._log.exception("spend on_flushed callback failed")
                spool.commit(batch)
                self.written += len(batch.records)
                if self._streak and batch.records:
                    self._recovered()
                if batch.rejects:
                    self._log.error(
                        "moved %d undecodable spend lines to %s",
                        len(batch.rejects),
                        spool.directory / "rejected.log",
                    )
                if batch.torn_bytes:
                    self._log.warning(
                        "skipped an unterminated %d-byte spend line left by a dead writer",
                        batch.torn_bytes,
                    )
            self._caught_up_at = time.monotonic()
            return True
        finally:
            spool.release()

    def _hand_over(self) -> None:
        """Not the host's writer: seal what this process spooled, for the writer to claim;
        once a sealed segment is gone (drained and deleted), its costs are in the database."""
        if self._spool.staged:
            self._write_staged()
        sealed = self._spool.seal()
        if sealed is not None:
            self._sealed[sealed] = self._unsealed
            self._unsealed = {}
        for path, costs in list(self._sealed.items()):
            if not path.exists():
                del self._sealed[path]
                if costs and self._on_handed is not None:
                    try:
                        self._on_handed(costs)
                    except Exception:
                        self._log.exception("spend on_handed callback failed")
        if not self._sealed:
            self._caught_up_at = time.monotonic()

    def _failed(self, exc: Exception, *, trace: bool) -> None:
        self.failures += 1
        self._streak += 1
        if self._streak == 1:  # once per outage, not per retry
            self._outage_since = time.monotonic()
            self._log.warning(
                "spend sink failed (%s: %s); records stay spooled and are retried",
                type(exc).__name__,
                exc,
                exc_info=trace,
            )

    def _recovered(self) -> None:
        self._log.info(
            "spend sink recovered after %d failed attempts over %.1fs",
            self._streak,
            time.monotonic() - self._outage_since,
        )
        self._streak = 0

    def _backoff(self) -> float:
        # Exponential from the interval, capped, with jitter so workers do not retry in step.
        base = min(BACKOFF_CAP, self._interval * 2.0 ** min(self._streak, 20))
        return base * random.uniform(0.5, 1.0)
