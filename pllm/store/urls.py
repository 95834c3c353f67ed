"""What callers need before (or without) the database layer is loaded: the URL to open and
the error that means "the database cannot be reached". No SQLAlchemy here, so a gateway
worker can start serving while the store's modules load in the background."""

from __future__ import annotations

from pathlib import Path

__all__ = ["StoreUnavailable", "resolve_url", "to_async_url"]


class StoreUnavailable(Exception):
    """The database cannot be reached; the operation did not happen (or was rolled back)."""


def to_async_url(url: str) -> str:
    """The URL with the async driver this package uses (aiosqlite, asyncpg)."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def resolve_url(database_url: str | None, data_dir: str) -> str:
    """The SQLAlchemy URL to open: the configured one, or SQLite in ``data_dir``."""
    if database_url is None:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{path / 'pllm.db'}"
    return to_async_url(database_url)
