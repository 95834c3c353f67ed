"""The schema revision workers read without alembic, against alembic's own idea of head."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

from pllm.store.engine import Store
from pllm.store.migrate import config, upgrade
from pllm.store.schema import SCHEMA_HEAD, schema_revision

pytestmark = pytest.mark.anyio


def test_schema_head_is_alembics_head() -> None:
    assert (
        ScriptDirectory.from_config(config("sqlite:///unused.db")).get_current_head() == SCHEMA_HEAD
    )


async def test_revision_of_an_empty_then_a_migrated_database(db_url: str) -> None:
    store = await Store.open(db_url)
    try:
        assert await schema_revision(store) is None
        upgrade(db_url)
        assert await schema_revision(store) == SCHEMA_HEAD
    finally:
        await store.close()
