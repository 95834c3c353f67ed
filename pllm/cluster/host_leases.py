"""Budget leases for the workers of one host, without Redis.

``pllm serve --workers N`` without Redis: each worker's budget ledger sees the others' spend
only through the database, once a second, so N workers could each admit up to a budget's
whole remaining headroom. The workers lease that headroom as instances do from Redis
(:class:`pllm.cluster.budgets.BudgetLeases`, same bound: spend stays under ``max_budget`` plus
one request), from a SQLite file in their shared directory (in memory under ``/dev/shm``):
one ``BEGIN IMMEDIATE`` transaction per exchange applies the same arithmetic as the Redis
scripts, so two workers never grant the same headroom. Exchanges run on a thread, in the
background: no request waits on the file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading

from pllm.cluster.budgets import Lease

log = logging.getLogger("pllm.cluster")

_SCHEMA = "CREATE TABLE IF NOT EXISTS lease (key TEXT PRIMARY KEY, spent REAL, held REAL)"


class HostLeases:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._failing = False

    def online(self) -> bool:
        return True

    def ok(self) -> None:
        if self._failing:
            self._failing = False
            log.info("budget leases between workers work again")

    def failed(self, error: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.error(f"budget leases between workers failed ({type(error).__name__}: {error})")

    def retry_in(self) -> float:
        return 1.0

    async def exchange(
        self, reports: list[tuple[str, float, float]], leases: list[Lease]
    ) -> list[tuple[float, float]]:
        return await asyncio.to_thread(self._exchange, reports, leases)

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA synchronous=OFF")  # scratch: the database keeps the spend
            db.execute(_SCHEMA)
            self._db = db
        return self._db

    def _exchange(
        self, reports: list[tuple[str, float, float]], leases: list[Lease]
    ) -> list[tuple[float, float]]:
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                for key, cost, returned in reports:
                    spent, held = _row(db, key)
                    _store(db, key, spent + cost, max(0.0, held - cost - returned))
                answers = [_grant(db, lease) for lease in leases]
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return answers

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _grant(db: sqlite3.Connection, lease: Lease) -> tuple[float, float]:
    key, max_budget, want, need, db_spent = lease
    spent, held = _row(db, key)
    spent = max(spent, db_spent)
    room = max_budget - spent - held
    grant = 0.0
    if room > 0.0:
        # At most what is left, but the request waiting for it once: the one grant that may
        # cross max_budget, after which nothing is left to grant.
        grant = max(min(want, room), need)
        held += grant
    _store(db, key, spent, held)
    return grant, spent


def _row(db: sqlite3.Connection, key: str) -> tuple[float, float]:
    row = db.execute("SELECT spent, held FROM lease WHERE key = ?", (key,)).fetchone()
    return (float(row[0]), float(row[1])) if row is not None else (0.0, 0.0)


def _store(db: sqlite3.Connection, key: str, spent: float, held: float) -> None:
    db.execute(
        "INSERT INTO lease (key, spent, held) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET spent = excluded.spent, held = excluded.held",
        (key, spent, held),
    )
