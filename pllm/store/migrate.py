"""Schema migrations without an alembic.ini: the alembic ``Config`` is built here in code and
the scripts ship inside the package (``pllm/store/migrations``).

Both functions are synchronous: they run at startup, before serving. Called from inside a
running event loop they do their work on a helper thread (alembic's env runs its own loop),
which blocks the calling loop until done.

A schema change is a new script in ``migrations/versions``; to draft one against a database
at head: ``alembic.command.revision(config(url), message="…", autogenerate=True,
rev_id="0002")``, then write it out explicitly as 0001 does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pllm.store.engine import to_async_url

_T = TypeVar("_T")
SCRIPT_LOCATION = Path(__file__).parent / "migrations"
# alembic's ``context`` (what env.py configures) is one per process: two threads migrating at
# once would configure each other's. Processes are kept apart by locks in the database.
_ALEMBIC = threading.Lock()


def config(url: str) -> Config:
    """An alembic ``Config`` for this package's migrations and ``url``."""
    cfg = Config()
    # ConfigParser interpolates "%"; double it so that any path survives.
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    cfg.attributes["url"] = to_async_url(url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Brings the database at ``url`` to ``revision``; a no-op when it is there already."""

    def run() -> None:
        with _ALEMBIC:
            command.upgrade(config(url), revision)

    _off_loop(run)


def current(url: str) -> str | None:
    """The database's revision; None when it has never been migrated."""

    def revision_of(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async def read() -> str | None:
        engine = create_async_engine(to_async_url(url), poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(revision_of)
        finally:
            await engine.dispose()

    return _off_loop(lambda: asyncio.run(read()))


def _off_loop(work: Callable[[], _T]) -> _T:
    """``work()`` here, or on a helper thread when this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    result: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, name="pllm-migrate")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
