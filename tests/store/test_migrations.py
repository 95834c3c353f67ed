from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from pllm.store import migrate, tables

pytestmark = pytest.mark.anyio

ALL_TABLES = {
    "pllm_users",
    "pllm_groups",
    "pllm_memberships",
    "pllm_keys",
    "pllm_spend",
    "pllm_spend_daily",
    "pllm_revision",
}


def on_sync_connection(url: str, fn: Any) -> Any:
    """``fn(sync_connection)`` on a fresh engine, from sync code (asyncio.run on a thread,
    since the anyio test runner may own this thread's loop)."""

    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(go())))
    thread.start()
    thread.join()
    return result[0]


def schema_diff(url: str, target: MetaData) -> list[Any]:
    def compare(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs: list[Any] = compare_metadata(ctx, target)
        return diffs

    diffs: list[Any] = on_sync_connection(url, compare)
    return diffs


def test_from_empty_creates_exactly_the_schema(db_url: str) -> None:
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == "0001"
    names = on_sync_connection(db_url, lambda c: set(inspect(c).get_table_names()))
    assert names == ALL_TABLES | {"alembic_version"}
    # What `alembic check` does: autogenerate against the migrated database finds nothing.
    assert schema_diff(db_url, tables.metadata) == []


def test_the_comparison_would_notice_a_difference(migrated_url: str) -> None:
    """Guards the test above: a schema that differs from the database is reported."""
    changed = MetaData()
    for table in tables.metadata.sorted_tables:
        table.to_metadata(changed)
    Table("pllm_extra", changed, Column("id", Integer, primary_key=True))
    diffs = schema_diff(migrated_url, changed)
    assert [d[0] for d in diffs] == ["add_table"]


def test_upgrade_twice_is_a_no_op(migrated_url: str) -> None:
    def revision_rows(conn: Connection) -> list[Any]:
        return list(conn.exec_driver_sql("SELECT id, value FROM pllm_revision").all())

    migrate.upgrade(migrated_url)
    assert migrate.current(migrated_url) == "0001"
    assert on_sync_connection(migrated_url, revision_rows) == [(1, 0)]


def test_concurrent_upgrades_migrate_once(db_url: str) -> None:
    """Workers (processes) starting together all call upgrade(); none fails, and the schema
    is made once."""
    code = "import sys; from pllm.store.migrate import upgrade; upgrade(sys.argv[1])"
    workers = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    # And threads of this process at the same time.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(db_url)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        _, stderr = worker.communicate(timeout=50)
        assert worker.returncode == 0, stderr
    assert errors == []
    assert migrate.current(db_url) == "0001"
    assert schema_diff(db_url, tables.metadata) == []


async def test_upgrade_from_inside_an_event_loop(db_url: str) -> None:
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == "0001"


def test_postgres_scheme_is_mapped_to_asyncpg(postgres_db: str) -> None:
    plain = postgres_db.replace("postgresql+asyncpg://", "postgresql://")
    migrate.upgrade(plain)
    assert migrate.current(plain) == "0001"
