"""Opening the database and handing out connections.

SQLite (the embedded default) and PostgreSQL behave differently under concurrency, so the
differences live here and nowhere else:

* SQLite allows one writer at a time per file. Every write transaction of this process waits
  on one ``asyncio.Lock`` and starts with ``BEGIN IMMEDIATE``, so it takes the file's write
  lock up front (a deferred transaction that upgrades from read to write can fail at once,
  without waiting). Other processes (gateway workers) contend for the same lock; SQLite waits
  ``busy_timeout`` for them, and if that is not enough we retry with backoff, so "database is
  locked" never reaches a caller.
* PostgreSQL gets a small pool that pings connections on checkout, so a restarted server is
  picked up again without reopening the store.

Connection-level failures (server down, connection refused or reset, pool exhausted) become
``StoreUnavailable`` so that callers can answer "database down" instead of treating them as
bugs. Its message never carries the URL's password.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, Literal, TypeVar

from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

# Re-exported: the database layer's public names stay importable from here.
from pllm.store.urls import StoreUnavailable as StoreUnavailable
from pllm.store.urls import resolve_url as resolve_url
from pllm.store.urls import to_async_url as to_async_url

Dialect = Literal["sqlite", "postgresql"]
_T = TypeVar("_T")

_SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
# SQLSTATE classes that mean the connection, not the statement, failed: 08 connection
# exception, 57P01..03 the server is shutting down, crashed, or still starting.
_PG_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")


def _is_locked(error: BaseException) -> bool:
    text = str(error)
    return "database is locked" in text or "database table is locked" in text


def _sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), error):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def _connection_lost(error: BaseException) -> bool:
    """Whether ``error`` says the connection failed, as opposed to the statement."""
    if isinstance(error, exc.TimeoutError | OSError):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated or isinstance(error.orig, OSError):
            return True
        state = _sqlstate(error)
        return state is not None and state.startswith(_PG_UNAVAILABLE_STATES)
    return False


class Store:
    """An open database. Create with ``await Store.open(url)``; ``await close()`` at the end."""

    def __init__(self, engine: AsyncEngine, url: URL, *, lock_patience: float) -> None:
        self._engine = engine
        self._url = url
        self._lock_patience = lock_patience
        self._dialect: Dialect = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
        # One writer queue per process (SQLite only; PostgreSQL locks rows, not the file).
        self._write_lock = asyncio.Lock() if self._dialect == "sqlite" else None
        # How often a SQLite writer found the file locked by another process and retried.
        self.lock_retries = 0

    @classmethod
    async def open(
        cls, url: str, *, busy_timeout_ms: int = 5000, lock_patience: float = 30.0
    ) -> Store:
        """Open ``url`` and check that it answers (``StoreUnavailable`` if not).

        ``lock_patience``: how long (seconds) a SQLite writer keeps retrying a locked file
        before giving up with ``StoreUnavailable``.
        """
        parsed = make_url(to_async_url(url))
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {parsed.get_backend_name()!r}")
        if parsed.get_backend_name() == "sqlite":
            engine = create_async_engine(parsed)
            install_sqlite_hooks(engine, busy_timeout_ms=busy_timeout_ms)
        else:
            engine = create_async_engine(
                parsed,
                pool_size=4,
                max_overflow=4,
                pool_timeout=10,
                pool_pre_ping=True,
                # Connections older than this are replaced, so that a failover or a
                # proxy's idle cut does not surface as an error.
                pool_recycle=1800,
                connect_args={"timeout": 5, "server_settings": {"application_name": "pllm"}},
            )
        store = cls(engine, parsed, lock_patience=lock_patience)
        try:
            async with store.read() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except BaseException:
            await engine.dispose()
            raise
        return store

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    @property
    def url(self) -> str:
        """The URL with the password masked (safe to log)."""
        return self._url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Store({self.url})"

    async def close(self) -> None:
        await self._engine.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for queries; nothing it does is committed."""
        conn = await self._connect()
        try:
            with self._translating():
                yield conn
        finally:
            await self._release(conn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction, committed when the block ends without error."""
        if self._write_lock is None:
            async with self._write_transaction() as conn:
                yield conn
        else:
            async with self._write_lock, self._write_transaction() as conn:
                yield conn

    @asynccontextmanager
    async def _write_transaction(self) -> AsyncIterator[AsyncConnection]:
        conn = await self._begin_write()
        try:
            with self._translating():
                try:
                    yield conn
                    await conn.commit()
                except BaseException:
                    await self._rollback(conn)
                    raise
        finally:
            await self._release(conn)

    async def _connect(self) -> AsyncConnection:
        """A pooled connection; any failure to get one means the database is unavailable."""
        try:
            return await self._retrying(self._engine.connect)
        except StoreUnavailable:
            raise
        except Exception as error:
            raise self._unavailable(error) from error

    async def _begin_write(self) -> AsyncConnection:
        """A connection whose transaction holds SQLite's write lock (or just began, on PG)."""

        async def attempt() -> AsyncConnection:
            conn = await self._connect()
            try:
                await conn.execution_options(pllm_immediate=True)
                await conn.begin()
            except BaseException:
                await self._release(conn)
                raise
            return conn

        with self._translating():
            return await self._retrying(attempt)

    async def _retrying(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """``attempt()``, again with backoff while SQLite says the file is locked."""
        delay = 0.002
        deadline = time.monotonic() + self._lock_patience
        while True:
            try:
                return await attempt()
            except Exception as error:
                if not (self._dialect == "sqlite" and _is_locked(error)):
                    raise
                if time.monotonic() > deadline:
                    raise self._unavailable(error) from error
            self.lock_retries += 1
            # Jitter keeps workers that collided from colliding again in lockstep.
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)

    async def _rollback(self, conn: AsyncConnection) -> None:
        # A failed rollback means the connection is gone; the error being raised says why.
        with suppress(Exception):
            await conn.rollback()

    async def _release(self, conn: AsyncConnection) -> None:
        # Closing a dead connection can fail; the pool discards it either way.
        with suppress(Exception):
            await conn.close()

    @contextmanager
    def _translating(self) -> Iterator[None]:
        """Turns connection-level failures raised in the block into ``StoreUnavailable``."""
        try:
            yield
        except Exception as error:
            translated = self._translate(error)
            if translated is error:
                raise
            raise translated from error

    def _translate(self, error: Exception) -> Exception:
        if isinstance(error, StoreUnavailable):
            return error
        if _connection_lost(error) or (self._dialect == "sqlite" and _is_locked(error)):
            return self._unavailable(error)
        return error

    def _unavailable(self, error: BaseException) -> StoreUnavailable:
        cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig else error
        message = f"database unavailable ({self.url}): {type(cause).__name__}: {cause}"
        password = self._url.password
        if password:
            message = message.replace(str(password), "***")
        return StoreUnavailable(message)


def install_sqlite_hooks(
    engine: AsyncEngine, *, busy_timeout_ms: int, foreign_keys: bool = True, immediate: bool = False
) -> None:
    """Pragmas on every new connection, and BEGIN issued by us rather than the sqlite3 module.

    ``immediate``: every transaction takes the write lock at BEGIN (migrations use it so that
    processes migrating at once run one after the other); otherwise only transactions whose
    connection has the ``pllm_immediate`` execution option do.
    """
    pragmas = [f"busy_timeout={int(busy_timeout_ms)}", *_SQLITE_PRAGMAS]
    if not foreign_keys:
        pragmas.remove("foreign_keys=ON")

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 module's legacy mode starts transactions late and never for SELECT;
        # _on_begin below issues BEGIN instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout comes first: switching to WAL may have to wait for another process.
            for pragma in pragmas:
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if immediate or conn.get_execution_options().get("pllm_immediate", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
