"""Fixtures shared by the fakes' self-tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from .openai_upstream import FakeOpenAI


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def up() -> Iterator[FakeOpenAI]:
    """A running fake; fails the test if aiohttp or asyncio logged a warning or error."""
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        with FakeOpenAI() as server:
            yield server
    finally:
        root.removeHandler(collect)
    noisy = [
        f"{r.name}: {r.getMessage()}"
        for r in collect.records
        if r.name.startswith(("aiohttp", "asyncio"))
    ]
    assert noisy == []
