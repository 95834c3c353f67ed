"""Alembic environment: runs the migrations in this folder against an async engine.

``pllm.store.migrate`` builds the alembic ``Config`` in code and passes the URL in
``config.attributes["url"]`` (not as an ini option, whose ``%`` interpolation would mangle
URL-encoded passwords). A caller that already holds a sync ``Connection`` (for example inside
``AsyncConnection.run_sync``) can pass it as ``config.attributes["connection"]`` instead.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pllm.store.engine import install_sqlite_hooks, to_async_url
from pllm.store.tables import metadata

# Any constant works: it only has to be the same for every pllm process sharing a database.
_PG_MIGRATION_LOCK = 0x706C6C6D  # "pllm"


def _migrate(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=sqlite,
        # SQLite's DDL is transactional too: one transaction for the whole run, which is
        # what makes concurrent upgrades safe (below).
        transactional_ddl=True,
        compare_type=True,
    )
    # Workers may start (and migrate) at once: the first migrates, the others wait and then
    # find the database up to date. SQLite: the transaction begins IMMEDIATE (see
    # _migrate_url), which holds the file's write lock. PostgreSQL: an advisory lock, released
    # at commit.
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        context.run_migrations()


async def _migrate_url(url: str) -> None:
    engine = create_async_engine(to_async_url(url), poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        # No foreign_keys pragma: batch migrations rebuild tables that others refer to.
        install_sqlite_hooks(engine, busy_timeout_ms=60_000, foreign_keys=False, immediate=True)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_migrate)
    finally:
        await engine.dispose()


def _main() -> None:
    config = context.config
    if context.is_offline_mode():
        # `alembic upgrade --sql`: print the DDL for a DBA instead of running it.
        context.configure(
            url=config.attributes.get("url") or config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass config.attributes['url']")
    asyncio.run(_migrate_url(url))


_main()
