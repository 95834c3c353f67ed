"""Every store test runs twice: on SQLite in a temporary directory and on a fresh database of
the session's PostgreSQL server (see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pllm.store.engine import Store
from pllm.store.migrate import upgrade


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'pllm.db'}"
    url: str = request.getfixturevalue("postgres_db")
    return url


@pytest.fixture
def migrated_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(migrated_url)
    try:
        yield opened
    finally:
        await opened.close()
