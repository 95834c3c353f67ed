from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from pllm.admin.app import AdminApp
from pllm.config.schema import GeneralSettings, Settings
from tests.admin.client import Client

MASTER = "sk-master-test-key"


def make_settings(data_dir: Path, **general: object) -> Settings:
    fields: dict[str, object] = {"master_key": MASTER, "data_dir": str(data_dir)}
    fields.update(general)
    return Settings(file="test.yaml", deployments=(), general=GeneralSettings(**fields))  # type: ignore[arg-type]


def started(runner: asyncio.Runner, settings: Settings) -> Iterator[AdminApp]:
    """An admin app through its startup and, when the test is done, its shutdown."""
    admin = AdminApp(settings)
    runner.run(admin.startup())
    yield admin
    runner.run(admin.shutdown())


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


# Tests marked with this run on SQLite and on the session's PostgreSQL server; others on
# SQLite only.
BOTH_DATABASES = pytest.mark.parametrize("app", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def app(
    request: pytest.FixtureRequest, tmp_path: Path, runner: asyncio.Runner
) -> Iterator[AdminApp]:
    database = getattr(request, "param", "sqlite")
    url = request.getfixturevalue("postgres_db") if database == "postgresql" else None
    yield from started(runner, make_settings(tmp_path, database_url=url))


@pytest.fixture
def client(app: AdminApp, runner: asyncio.Runner) -> Client:
    return Client(app, runner, MASTER)
