"""Typed, immutable views of the principal tables' rows, and the SQL helpers that differ by
dialect (SQLite and PostgreSQL both have ON CONFLICT, through different constructs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ColumnCollection
from sqlalchemy.sql.dml import Insert

from pllm.principal import Limits
from pllm.store.engine import Dialect


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityRow(Limits):
    """The columns every key, user and group has besides its own: the limits and budget
    (inherited, see ``pllm.principal.LIMIT_FIELDS``), metadata and times."""

    id: str
    metadata: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRow(EntityRow):
    email: str | None
    name: str | None
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRow(EntityRow):
    name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRow(EntityRow):
    key_hash: str
    key_prefix: str
    key_suffix: str
    alias: str | None
    user_id: str | None
    group_id: str | None
    role: str
    expires_at: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class MembershipRow:
    user_id: str
    group_id: str
    role: str


@dataclass(frozen=True, slots=True)
class AuthRecord:
    """What authenticating with one key needs: the key, its user, and its groups (the key's
    own group first, then its user's groups by id)."""

    key: KeyRow
    user: UserRow | None
    groups: tuple[GroupRow, ...]


_Row = TypeVar("_Row", UserRow, GroupRow, KeyRow, MembershipRow)


def from_row(cls: type[_Row], row: Mapping[Any, Any]) -> _Row:
    """The dataclass for a selected row: JSON lists become tuples, a NULL metadata ``{}``."""
    values: dict[str, Any] = {}
    for field in fields(cls):
        value = row[field.name]
        if field.name == "allowed_models" and value is not None:
            value = tuple(str(m) for m in value)
        elif field.name == "metadata":
            value = dict(value or {})
        values[field.name] = value
    return cls(**values)


def upsert(
    dialect: Dialect,
    table: Table,
    index: Sequence[str],
    update: Callable[[ColumnCollection[str, Any]], Mapping[str, Any]],
) -> Insert:
    """``INSERT … ON CONFLICT (index) DO UPDATE SET update(excluded)``."""
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(index_elements=index, set_=update(lite.excluded))
    pg = postgresql.insert(table)
    return pg.on_conflict_do_update(index_elements=index, set_=update(pg.excluded))
