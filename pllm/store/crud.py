"""The generic half of the principal tables' writes: validate, check references, write,
bump the revision, map constraint errors. ``principals`` holds the typed API built on it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pllm.principal import BUDGET_PERIODS, LIMIT_FIELDS, ROLES
from pllm.store.engine import Store
from pllm.store.rows import GroupRow, KeyRow, UserRow, from_row
from pllm.store.tables import groups, revision, users


class AlreadyExists(Exception):
    """A row with that id (or, for keys, that hash) exists."""


class NotFound(Exception):
    """A user or group the call refers to does not exist."""


_Row = TypeVar("_Row", UserRow, GroupRow, KeyRow)

# What every key, user and group may be given besides its own columns.
LIMITS = frozenset({*(f.name for f in LIMIT_FIELDS), "metadata"})
KEY_FIELDS = frozenset({"alias", "user_id", "group_id", "role", "expires_at", *LIMITS})
USER_FIELDS = frozenset({"email", "name", "role", *LIMITS})
GROUP_FIELDS = frozenset({"name", *LIMITS})
# Columns that refer to another principal: checked first, for a NotFound that names it.
_REFS: dict[str, tuple[Table, str]] = {"user_id": (users, "user"), "group_id": (groups, "group")}


def with_limits(own: Mapping[str, Any], limits: Mapping[str, Any]) -> dict[str, Any]:
    """A new row's values: its ``own`` columns and ``limits`` (any of ``LIMITS``), every
    limit not given as None. A name that is no limit is a TypeError, as a misspelt keyword
    argument would be."""
    unknown = sorted(set(limits) - LIMITS)
    if unknown:
        raise TypeError(f"unknown limit {', '.join(unknown)} (can: {', '.join(sorted(LIMITS))})")
    return {**own, **dict.fromkeys(LIMITS), **limits}


def clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validated column values (bad ones raise ValueError, before anything is written)."""
    out = dict(values)
    if "role" in out and out["role"] not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    period = out.get("budget_period")
    if period is not None and period not in BUDGET_PERIODS:
        raise ValueError(f"budget_period must be one of {', '.join(BUDGET_PERIODS)}")
    models = out.get("allowed_models")
    if models is not None:
        # A bare string is iterable too; as a model list it would be a list of letters.
        if isinstance(models, str) or not isinstance(models, Iterable):
            raise ValueError("allowed_models must be a list of model names or None")
        out["allowed_models"] = [str(m) for m in models]
    if "metadata" in out:
        meta = out["metadata"] if out["metadata"] is not None else {}
        if not isinstance(meta, Mapping):
            raise ValueError("metadata must be an object")
        out["metadata"] = dict(meta)
    return out


async def bump(conn: AsyncConnection) -> None:
    await conn.execute(
        update(revision).where(revision.c.id == 1).values(value=revision.c.value + 1)
    )


async def require(conn: AsyncConnection, table: Table, id: str, what: str) -> None:
    found = await conn.execute(select(table.c.id).where(table.c.id == id))
    if found.first() is None:
        raise NotFound(f"{what} {id!r} not found")


async def require_refs(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    for column, (table, what) in _REFS.items():
        if values.get(column) is not None:
            await require(conn, table, values[column], what)


def what_of(table: Table) -> str:
    return table.name.removeprefix("pllm_").rstrip("s")  # pllm_users -> user


def conflict(error: IntegrityError, what: str) -> Exception:
    """A constraint violation that slipped past the checks (a concurrent write)."""
    if "foreign key" in str(error.orig).lower():
        return NotFound(f"a user or group this {what} refers to was deleted")
    return AlreadyExists(f"{what} already exists")


async def create_row(store: Store, table: Table, cls: type[_Row], values: dict[str, Any]) -> _Row:
    now = time.time()
    row = {**clean(values), "created_at": now, "updated_at": now}
    what = what_of(table)
    try:
        async with store.write() as conn:
            await require_refs(conn, row)
            taken = await conn.execute(select(table.c.id).where(table.c.id == row["id"]))
            if taken.first() is not None:
                raise AlreadyExists(f"{what} {row['id']!r} already exists")
            await conn.execute(insert(table).values(row))
            await bump(conn)
    except IntegrityError as error:
        raise conflict(error, what) from error
    return from_row(cls, row)


async def get_row(store: Store, table: Table, cls: type[_Row], id: str) -> _Row | None:
    async with store.read() as conn:
        row = (await conn.execute(select(table).where(table.c.id == id))).mappings().first()
    return None if row is None else from_row(cls, row)


async def update_row(
    store: Store,
    table: Table,
    cls: type[_Row],
    id: str,
    allowed: frozenset[str],
    values: Mapping[str, Any],
) -> _Row | None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"cannot update {', '.join(unknown)} (can: {', '.join(sorted(allowed))})")
    if not values:
        return await get_row(store, table, cls, id)
    changes = {**clean(values), "updated_at": time.time()}
    try:
        async with store.write() as conn:
            await require_refs(conn, changes)
            result = await conn.execute(
                update(table).where(table.c.id == id).values(changes).returning(*table.c)
            )
            row = result.mappings().first()
            if row is None:
                return None
            await bump(conn)
    except IntegrityError as error:
        raise conflict(error, what_of(table)) from error
    return from_row(cls, row)


async def delete_row(store: Store, table: Table, id: str) -> bool:
    async with store.write() as conn:
        result = await conn.execute(delete(table).where(table.c.id == id))
        if result.rowcount == 0:
            return False
        await bump(conn)
    return True


async def page(
    store: Store, table: Table, cls: type[_Row], where: Sequence[Any], limit: int, offset: int
) -> tuple[list[_Row], int]:
    order = (table.c.created_at, table.c.id)
    async with store.read() as conn:
        count = select(func.count()).select_from(table).where(*where)
        total = int((await conn.execute(count)).scalar_one())
        query = select(table).where(*where).order_by(*order).limit(limit).offset(offset)
        rows = (await conn.execute(query)).mappings().all()
    return [from_row(cls, row) for row in rows], total
