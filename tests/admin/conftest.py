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


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture
def app(tmp_path: Path, runner: asyncio.Runner) -> Iterator[AdminApp]:
    admin = AdminApp(make_settings(tmp_path))
    runner.run(admin.startup())
    yield admin
    runner.run(admin.shutdown())


@pytest.fixture
def client(app: AdminApp, runner: asyncio.Runner) -> Client:
    return Client(app, runner, MASTER)
