"""The reads behind the gateway's auth cache: a few queries per batch of keys, not per key.

Revoked and expired keys are returned like any other: deciding what they mean (and caching
that answer) is the authenticator's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from pllm.store.engine import Store
from pllm.store.rows import AuthRecord, GroupRow, KeyRow, UserRow, from_row
from pllm.store.tables import groups, keys, memberships, users
from pllm.store.tables import revision as revision_table


async def revision(store: Store) -> int:
    """A number that every principal write increases: poll it to know when to reload."""
    async with store.read() as conn:
        query = select(revision_table.c.value).where(revision_table.c.id == 1)
        return int((await conn.execute(query)).scalar_one())


async def groups_of_users(
    conn: AsyncConnection, user_ids: Iterable[str]
) -> dict[str, list[GroupRow]]:
    """Each user's groups, by group id (users in no group are left out)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    query = (
        select(memberships.c.user_id, groups)
        .join(groups, groups.c.id == memberships.c.group_id)
        .where(memberships.c.user_id.in_(wanted))
        .order_by(memberships.c.user_id, groups.c.id)
    )
    out: dict[str, list[GroupRow]] = {}
    for row in (await conn.execute(query)).mappings():
        out.setdefault(row["user_id"], []).append(from_row(GroupRow, row))
    return out


async def _groups(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, GroupRow]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await conn.execute(select(groups).where(groups.c.id.in_(wanted)))).mappings()
    return {row["id"]: from_row(GroupRow, row) for row in rows}


async def auth_lookup(store: Store, key_hashes: Sequence[str]) -> dict[str, AuthRecord]:
    """For each known hash: the key, its user and its groups (the key's own group first, then
    the user's, each once). Unknown hashes are absent. At most four queries, however many
    hashes."""
    wanted = sorted(set(key_hashes))
    if not wanted:
        return {}
    async with store.read() as conn:
        query = select(keys).where(keys.c.key_hash.in_(wanted))
        found = [from_row(KeyRow, row) for row in (await conn.execute(query)).mappings()]
        user_ids = sorted({k.user_id for k in found if k.user_id is not None})
        by_user: dict[str, UserRow] = {}
        if user_ids:
            rows = (await conn.execute(select(users).where(users.c.id.in_(user_ids)))).mappings()
            by_user = {row["id"]: from_row(UserRow, row) for row in rows}
        user_groups = await groups_of_users(conn, user_ids)
        own_groups = await _groups(conn, (k.group_id for k in found if k.group_id is not None))
    out: dict[str, AuthRecord] = {}
    for key in found:
        chain: dict[str, GroupRow] = {}
        if key.group_id is not None and key.group_id in own_groups:
            chain[key.group_id] = own_groups[key.group_id]
        for group in user_groups.get(key.user_id or "", []):
            chain.setdefault(group.id, group)
        user = by_user.get(key.user_id) if key.user_id is not None else None
        out[key.key_hash] = AuthRecord(key=key, user=user, groups=tuple(chain.values()))
    return out


async def user_lookup(store: Store, user_id: str) -> tuple[UserRow | None, tuple[GroupRow, ...]]:
    """A user (None if unknown) and the groups they are in (for JWT callers)."""
    async with store.read() as conn:
        row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
        if row is None:
            return None, ()
        member_of = await groups_of_users(conn, [user_id])
    return from_row(UserRow, row), tuple(member_of.get(user_id, []))


async def groups_by_ids(store: Store, ids: Sequence[str]) -> tuple[GroupRow, ...]:
    """The groups with these ids, in the order asked, each once; unknown ids are skipped."""
    if not ids:
        return ()
    async with store.read() as conn:
        found = await _groups(conn, ids)
    seen: dict[str, GroupRow] = {}
    for id in ids:
        if id in found:
            seen.setdefault(id, found[id])
    return tuple(seen.values())
