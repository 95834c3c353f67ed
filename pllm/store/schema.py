"""Which schema a database has, read without alembic: workers check this at every start, and
importing alembic (and running its environment) only when there is something to migrate
keeps it out of every worker's memory and start-up time."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pllm.store.engine import Store

# The newest script in migrations/versions (tests/store checks it against alembic's head).
SCHEMA_HEAD = "0001"


async def schema_revision(store: Store) -> str | None:
    """The database's alembic revision; None for a database that was never migrated."""
    try:
        async with store.read() as conn:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
    except DBAPIError as e:
        if "alembic_version" in str(e.orig):
            return None  # no such table yet
        raise
    return str(row[0]) if row is not None else None


async def open_at_head(url: str) -> Store:
    """The store, migrated first if its schema is behind. Processes that start together
    (workers, the admin API) may all find it behind; the migration serialises them in the
    database and is a no-op for all but the first."""
    store = await Store.open(url)
    try:
        if await schema_revision(store) != SCHEMA_HEAD:
            from pllm.store.migrate import upgrade

            await asyncio.to_thread(upgrade, url)
    except BaseException:
        await store.close()
        raise
    return store
