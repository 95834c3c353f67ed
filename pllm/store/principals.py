"""Keys, users, groups and memberships: the admin API's writes and the gateway's auth reads.

Every write also bumps ``pllm_revision.value`` in the same transaction. Gateway workers poll
``revision()`` and reload their auth caches when it moves, so a revoked key stops working
everywhere within one poll interval.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from pllm.store.crud import (
    GROUP_FIELDS,
    KEY_FIELDS,
    USER_FIELDS,
    bump,
    clean,
    conflict,
    create_row,
    delete_row,
    get_row,
    page,
    require,
    require_refs,
    update_row,
    with_limits,
)
from pllm.store.crud import AlreadyExists as AlreadyExists
from pllm.store.crud import NotFound as NotFound
from pllm.store.engine import Store

# The auth cache's reads live in lookups.py; re-exported to keep one module's API.
from pllm.store.lookups import auth_lookup as auth_lookup
from pllm.store.lookups import groups_by_ids as groups_by_ids
from pllm.store.lookups import groups_of_users
from pllm.store.lookups import revision as revision
from pllm.store.lookups import user_lookup as user_lookup
from pllm.store.rows import AuthRecord as AuthRecord
from pllm.store.rows import GroupRow as GroupRow
from pllm.store.rows import KeyRow as KeyRow
from pllm.store.rows import MembershipRow as MembershipRow
from pllm.store.rows import UserRow as UserRow
from pllm.store.rows import from_row, upsert
from pllm.store.tables import groups, keys, memberships, users

# --- keys ------------------------------------------------------------------------------------


async def create_key(
    store: Store,
    *,
    key_hash: str,
    key_prefix: str,
    key_suffix: str,
    role: str = "member",
    alias: str | None = None,
    user_id: str | None = None,
    group_id: str | None = None,
    expires_at: float | None = None,
    **limits: Any,
) -> KeyRow:
    """A new key (id ``key_`` + 16 hex) with ``limits`` (any of ``LIMITS``). ``key_hash`` is
    the SHA-256 of the secret, which is never stored. AlreadyExists for a hash already in
    use; NotFound for a missing user or group."""
    own = {
        "id": "key_" + secrets.token_hex(8),
        "key_hash": key_hash,
        "key_prefix": key_prefix,
        "key_suffix": key_suffix,
        "alias": alias,
        "user_id": user_id,
        "group_id": group_id,
        "role": role,
        "expires_at": expires_at,
        "revoked_at": None,
    }
    return await create_row(store, keys, KeyRow, with_limits(own, limits))


async def get_key(store: Store, id: str) -> KeyRow | None:
    return await get_row(store, keys, KeyRow, id)


async def get_key_by_hash(store: Store, key_hash: str) -> KeyRow | None:
    async with store.read() as conn:
        query = select(keys).where(keys.c.key_hash == key_hash)
        row = (await conn.execute(query)).mappings().first()
    return None if row is None else from_row(KeyRow, row)


async def list_keys(
    store: Store,
    *,
    user_id: str | None = None,
    group_id: str | None = None,
    include_revoked: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[KeyRow], int]:
    """One page of keys, oldest first, and how many match in all."""
    where = []
    if user_id is not None:
        where.append(keys.c.user_id == user_id)
    if group_id is not None:
        where.append(keys.c.group_id == group_id)
    if not include_revoked:
        where.append(keys.c.revoked_at.is_(None))
    return await page(store, keys, KeyRow, where, limit, offset)


async def update_key(store: Store, id: str, /, **fields: Any) -> KeyRow | None:
    """Changes ``fields`` (any of ``KEY_FIELDS``); None if there is no such key."""
    return await update_row(store, keys, KeyRow, id, KEY_FIELDS, fields)


async def revoke_key(store: Store, id: str) -> KeyRow | None:
    """Marks the key revoked (the first revocation's time is kept); None if no such key."""
    now = time.time()
    async with store.write() as conn:
        await conn.execute(
            update(keys)
            .where(keys.c.id == id, keys.c.revoked_at.is_(None))
            .values(revoked_at=now, updated_at=now)
        )
        row = (await conn.execute(select(keys).where(keys.c.id == id))).mappings().first()
        if row is None:
            return None
        await bump(conn)
    return from_row(KeyRow, row)


async def delete_key(store: Store, id: str) -> bool:
    return await delete_row(store, keys, id)


# --- users and groups -----------------------------------------------------------------------


async def create_user(
    store: Store,
    *,
    id: str | None = None,
    email: str | None = None,
    name: str | None = None,
    role: str = "member",
    **limits: Any,
) -> UserRow:
    """A new user with ``limits`` (any of ``LIMITS``); ``id`` defaults to ``user_`` + 16 hex.
    AlreadyExists for a taken id."""
    new_id = id if id is not None else "user_" + secrets.token_hex(8)
    own = {"id": new_id, "email": email, "name": name, "role": role}
    return await create_row(store, users, UserRow, with_limits(own, limits))


async def get_user(store: Store, id: str) -> UserRow | None:
    return await get_row(store, users, UserRow, id)


async def list_users(
    store: Store, *, limit: int = 100, offset: int = 0
) -> tuple[list[UserRow], int]:
    return await page(store, users, UserRow, (), limit, offset)


async def update_user(store: Store, id: str, /, **fields: Any) -> UserRow | None:
    """Changes ``fields`` (any of ``USER_FIELDS``); None if there is no such user."""
    return await update_row(store, users, UserRow, id, USER_FIELDS, fields)


async def delete_user(store: Store, id: str) -> bool:
    """Deletes the user and their memberships; their keys stay, without a user."""
    return await delete_row(store, users, id)


async def create_group(
    store: Store, *, id: str | None = None, name: str | None = None, **limits: Any
) -> GroupRow:
    """A new group with ``limits`` (any of ``LIMITS``); ``id`` defaults to ``group_`` + 16
    hex. AlreadyExists for a taken id."""
    own = {"id": id if id is not None else "group_" + secrets.token_hex(8), "name": name}
    return await create_row(store, groups, GroupRow, with_limits(own, limits))


async def get_group(store: Store, id: str) -> GroupRow | None:
    return await get_row(store, groups, GroupRow, id)


async def list_groups(
    store: Store, *, limit: int = 100, offset: int = 0
) -> tuple[list[GroupRow], int]:
    return await page(store, groups, GroupRow, (), limit, offset)


async def update_group(store: Store, id: str, /, **fields: Any) -> GroupRow | None:
    """Changes ``fields`` (any of ``GROUP_FIELDS``); None if there is no such group."""
    return await update_row(store, groups, GroupRow, id, GROUP_FIELDS, fields)


async def delete_group(store: Store, id: str) -> bool:
    """Deletes the group and its memberships; its keys stay, without a group."""
    return await delete_row(store, groups, id)


# --- memberships ------------------------------------------------------------------------------


async def add_member(
    store: Store, group_id: str, user_id: str, role: str = "member"
) -> MembershipRow:
    """Puts the user in the group; for a member already, sets the role. NotFound for a
    missing user or group."""
    row = {"group_id": group_id, "user_id": user_id, **clean({"role": role})}
    stmt = upsert(
        store.dialect, memberships, ["user_id", "group_id"], lambda new: {"role": new.role}
    )
    try:
        async with store.write() as conn:
            await require_refs(conn, row)
            await conn.execute(stmt.values(row))
            await bump(conn)
    except IntegrityError as error:
        raise conflict(error, "membership") from error
    return MembershipRow(user_id=user_id, group_id=group_id, role=row["role"])


async def remove_member(store: Store, group_id: str, user_id: str) -> bool:
    async with store.write() as conn:
        result = await conn.execute(
            delete(memberships).where(
                memberships.c.group_id == group_id, memberships.c.user_id == user_id
            )
        )
        if result.rowcount == 0:
            return False
        await bump(conn)
    return True


async def list_members(store: Store, group_id: str) -> list[MembershipRow]:
    """The group's members by user id. NotFound for a missing group."""
    async with store.read() as conn:
        await require(conn, groups, group_id, "group")
        query = (
            select(memberships)
            .where(memberships.c.group_id == group_id)
            .order_by(memberships.c.user_id)
        )
        rows = (await conn.execute(query)).mappings().all()
    return [from_row(MembershipRow, row) for row in rows]


async def groups_of(store: Store, user_id: str) -> list[GroupRow]:
    """The groups the user is in, by id. NotFound for a missing user."""
    async with store.read() as conn:
        await require(conn, users, user_id, "user")
        return (await groups_of_users(conn, [user_id])).get(user_id, [])
