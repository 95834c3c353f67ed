from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from pllm.store.engine import Store, StoreUnavailable, resolve_url
from pllm.store.migrate import upgrade
from tests.pg import PostgresServer

pytestmark = pytest.mark.anyio


def test_resolve_url(tmp_path: Path) -> None:
    data = tmp_path / "data" / "nested"
    assert resolve_url(None, str(data)) == f"sqlite+aiosqlite:///{data}/pllm.db"
    assert data.is_dir()
    assert resolve_url("sqlite:///x/y.db", "unused") == "sqlite+aiosqlite:///x/y.db"
    assert resolve_url("sqlite:////abs/y.db", "unused") == "sqlite+aiosqlite:////abs/y.db"
    assert resolve_url("postgres://u:p@h/db", "unused") == "postgresql+asyncpg://u:p@h/db"
    assert resolve_url("postgresql://u@h:5/db", "unused") == "postgresql+asyncpg://u@h:5/db"
    for unchanged in ("postgresql+asyncpg://h/db", "sqlite+aiosqlite:///a.db"):
        assert resolve_url(unchanged, "unused") == unchanged


async def test_dialect_and_round_trip(store: Store, db_url: str) -> None:
    assert store.dialect == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    async with store.write() as conn:
        await conn.execute(text("UPDATE pllm_revision SET value = 7"))
    async with store.read() as conn:
        assert (await conn.execute(text("SELECT value FROM pllm_revision"))).scalar_one() == 7


async def test_write_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with store.write() as conn:
            await conn.execute(text("UPDATE pllm_revision SET value = 5"))
            raise RuntimeError("boom")
    async with store.read() as conn:
        assert (await conn.execute(text("SELECT value FROM pllm_revision"))).scalar_one() == 0


async def test_statement_errors_are_not_unavailable(store: Store) -> None:
    """A bug (bad SQL) must not look like an outage."""
    with pytest.raises(Exception) as caught:
        async with store.read() as conn:
            await conn.execute(text("SELECT nope FROM nowhere"))
    assert not isinstance(caught.value, StoreUnavailable)


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        async with store.read() as conn:
            got = [
                (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
            ]
        assert got == ["wal", 5000, 1, 1]  # synchronous 1 = NORMAL
    finally:
        await store.close()


async def test_sqlite_concurrent_writers_never_see_locked(tmp_path: Path) -> None:
    """50 writer tasks split over two stores on one file (as two worker processes would be),
    with a tiny busy_timeout so that SQLite gives up at once and our retry has to work."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    stores = [await Store.open(url, busy_timeout_ms=1) for _ in range(2)]
    try:

        async def writer(n: int) -> None:
            store = stores[n % 2]
            for _ in range(4):
                async with store.write() as conn:
                    await conn.execute(text("UPDATE pllm_revision SET value = value + 1"))
                    await asyncio.sleep(0)  # hold the transaction across a switch

        await asyncio.gather(*(writer(n) for n in range(50)))
        async with stores[0].read() as conn:
            value = (await conn.execute(text("SELECT value FROM pllm_revision"))).scalar_one()
        assert value == 200
        assert stores[0].lock_retries + stores[1].lock_retries > 0  # the retry path ran
    finally:
        for store in stores:
            await store.close()


async def test_sqlite_waits_out_a_foreign_lock(tmp_path: Path) -> None:
    """Another process holds the write lock longer than busy_timeout: the write still lands."""
    path = tmp_path / "l.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    store = await Store.open(url, busy_timeout_ms=10)
    held = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(0.4)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        await asyncio.to_thread(held.wait)
        started = time.monotonic()
        async with store.write() as conn:
            await conn.execute(text("UPDATE pllm_revision SET value = 1"))
        assert time.monotonic() - started > 0.2
    finally:
        await asyncio.to_thread(thread.join)
        await store.close()


async def test_sqlite_gives_up_after_lock_patience(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    store = await Store.open(url, busy_timeout_ms=10, lock_patience=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            async with store.write() as conn:
                await conn.execute(text("UPDATE pllm_revision SET value = 1"))
    finally:
        other.execute("ROLLBACK")
        other.close()
        await store.close()


async def test_unreachable_postgres_is_unavailable_and_hides_the_password() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed.
    url = f"postgresql://pllm:s3cr3t-pw@127.0.0.1:{port}/db"
    with pytest.raises(StoreUnavailable) as caught:
        await Store.open(url)
    assert "s3cr3t-pw" not in str(caught.value)
    assert "***" in str(caught.value)


async def test_postgres_outage_and_recovery(
    postgres_server: PostgresServer, postgres_db: str
) -> None:
    upgrade(postgres_db)
    store = await Store.open(postgres_db)
    try:
        # Fill the pool with live connections that the outage will kill.
        async def touch() -> None:
            async with store.read() as conn:
                await conn.execute(text("SELECT pg_sleep(0.05)"))

        await asyncio.gather(*(touch() for _ in range(4)))
        await asyncio.to_thread(postgres_server.stop, "immediate")
        try:
            for _ in range(3):
                with pytest.raises(StoreUnavailable):
                    async with store.read() as conn:
                        await conn.execute(text("SELECT value FROM pllm_revision"))
            with pytest.raises(StoreUnavailable):
                async with store.write() as conn:
                    await conn.execute(text("UPDATE pllm_revision SET value = 9"))
        finally:
            await asyncio.to_thread(postgres_server.start)
        # Same Store, no reopening: pooled connections are found dead and replaced.
        for _ in range(6):
            async with store.write() as conn:
                await conn.execute(text("UPDATE pllm_revision SET value = value + 1"))
        async with store.read() as conn:
            assert (await conn.execute(text("SELECT value FROM pllm_revision"))).scalar_one() == 6
    finally:
        await store.close()


async def test_postgres_connection_killed_mid_transaction(postgres_db: str) -> None:
    """The server ends a session while it is in use: StoreUnavailable, then business as usual."""
    upgrade(postgres_db)
    store = await Store.open(postgres_db)
    try:
        with pytest.raises(StoreUnavailable):
            async with store.write() as conn:
                await conn.execute(text("UPDATE pllm_revision SET value = 1"))
                await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        async with store.read() as conn:
            assert (await conn.execute(text("SELECT value FROM pllm_revision"))).scalar_one() == 0
    finally:
        await store.close()
