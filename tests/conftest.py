from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.pg import INSTALL_HINT, PostgresServer, find_bindir


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as up:
        yield up


# --- PostgreSQL (tests/store and anything else that needs a real server) -------------------

_pg_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the session. Missing binaries fail the tests
    that need it (rather than skipping them and passing green without PostgreSQL)."""
    if find_bindir() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = PostgresServer()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server."""
    name = f"t_{next(_pg_databases)}"
    postgres_server.psql(f"CREATE DATABASE {name}")
    return postgres_server.url_for(name)
