"""The admin operations on keys, users, groups and memberships, over the store.

The HTTP routes, the LiteLLM translation and ``pllm … --local`` all come through here. Every
write goes through a store function that bumps the revision counter, which is how gateway
workers learn within a second that a key, user or group changed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from msgspec import UNSET

from pllm.admin import schemas as s
from pllm.admin.periods import parse_duration
from pllm.auth.keys import KEY_PREFIX, generate_key, hash_key, masked
from pllm.errors import GatewayError, bad_request
from pllm.store import principals as db
from pllm.store.engine import Store
from pllm.store.rows import EntityRow, GroupRow, KeyRow, UserRow


def not_found(kind: str, id: str) -> GatewayError:
    return GatewayError(404, f"No {kind} with id '{id}'.", code=f"{kind}_not_found")


V = TypeVar("V", s.KeyView, s.UserView, s.GroupView)


def _view(view: type[V], row: EntityRow, **computed: Any) -> V:
    """``view`` of ``row``: each field is the row's attribute of that name, in JSON's types
    (a list of models, a metadata dict of its own), but for those ``computed`` here. The
    view's fields are the allowlist: a column it does not name (a key's hash) stays out."""
    values = {name: getattr(row, name) for name in view.__struct_fields__ if name not in computed}
    if row.allowed_models is not None:
        values["allowed_models"] = list(row.allowed_models)
    values["metadata"] = dict(row.metadata or {})
    return view(**values, **computed)


def key_view(row: KeyRow) -> s.KeyView:
    return _view(s.KeyView, row, key=masked(row.key_prefix, row.key_suffix))


def user_view(row: UserRow) -> s.UserView:
    return _view(s.UserView, row)


def group_view(row: GroupRow) -> s.GroupView:
    return _view(s.GroupView, row)


def check_budget(limits: Mapping[str, Any]) -> None:
    """400 for a soft budget above the cap, among ``limits`` (pllm's names)."""
    max_budget, soft_budget = limits.get("max_budget"), limits.get("soft_budget")
    # Only two amounts compare: None is no cap, or no alert.
    if not (isinstance(max_budget, float | int) and isinstance(soft_budget, float | int)):
        return
    if soft_budget > max_budget:
        raise bad_request(
            f"soft_budget ({soft_budget}) is above max_budget ({max_budget}): the alert "
            "would never fire before the cap.",
            param="soft_budget",
            code="conflicting_fields",
        )


def _expiry(expires_at: Any, duration: Any, now: float) -> Any:
    """``expires_at`` from either form; UNSET when neither was given."""
    if duration is not None and duration is not UNSET:
        if expires_at is not None and expires_at is not UNSET:
            raise bad_request(
                "Give either expires_at or duration, not both.",
                param="duration",
                code="conflicting_fields",
            )
        return now + parse_duration(duration)
    return expires_at


async def _check_refs(store: Store, user_id: Any, group_id: Any) -> None:
    """Clear 400s for dangling owners, instead of a foreign-key failure."""
    if isinstance(user_id, str) and await db.get_user(store, user_id) is None:
        raise bad_request(
            f"Invalid user_id: no user with id '{user_id}'.", param="user_id", code="user_not_found"
        )
    if isinstance(group_id, str) and await db.get_group(store, group_id) is None:
        raise bad_request(
            f"Invalid group_id: no group with id '{group_id}'.",
            param="group_id",
            code="group_not_found",
        )


def _set_fields(patch: msgspec.Struct, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        name: value
        for name in patch.__struct_fields__
        if name not in skip and (value := getattr(patch, name)) is not UNSET
    }


# ---------------------------------------------------------------- shared by keys, users, groups

R = TypeVar("R", KeyRow, UserRow, GroupRow)
P = TypeVar("P", s.KeyPage, s.UserPage, s.GroupPage)


@dataclass(frozen=True, slots=True)
class _Kind(Generic[R, V, P]):
    """What tells keys, users and groups apart in the operations they share: reading one
    (404 when missing), a page of them, a patch with its budget check, a delete.

    Listing calls the store's list_* itself, not through here: each takes its own filters,
    and tests stand in for them to play a database that is down."""

    name: str  # as errors name it: "No user with id …", code "user_not_found"
    get: Callable[[Store, str], Awaitable[R | None]]
    update: Callable[..., Awaitable[R | None]]
    delete: Callable[[Store, str], Awaitable[bool]]
    view: Callable[[R], V]
    page: Callable[..., P]  # the Page Struct


_KEY = _Kind("key", db.get_key, db.update_key, db.delete_key, key_view, s.KeyPage)
_USER = _Kind("user", db.get_user, db.update_user, db.delete_user, user_view, s.UserPage)
_GROUP = _Kind("group", db.get_group, db.update_group, db.delete_group, group_view, s.GroupPage)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


async def _create(
    kind: _Kind[R, V, P],
    create: Callable[..., Awaitable[R]],
    store: Store,
    spec: s.UserCreate | s.GroupCreate,
) -> V:
    # UserCreate and GroupCreate carry exactly the keywords of the store's create_user and
    # create_group; only the id is pllm's to choose when left out.
    fields = msgspec.structs.asdict(spec)
    check_budget(fields)
    fields["id"] = spec.id or _new_id(kind.name)
    return kind.view(await create(store, **fields))


async def _row(kind: _Kind[R, V, P], store: Store, id: str) -> R:
    row = await kind.get(store, id)
    if row is None:
        raise not_found(kind.name, id)
    return row


def _page(kind: _Kind[R, V, P], rows: list[R], total: int, q: s.PageQuery) -> P:
    return kind.page(data=[kind.view(r) for r in rows], total=total, limit=q.limit, offset=q.offset)


async def _update(kind: _Kind[R, V, P], store: Store, id: str, fields: dict[str, Any]) -> V:
    current = await _row(kind, store, id)
    check_budget({"max_budget": current.max_budget, "soft_budget": current.soft_budget, **fields})
    # Only a key's patch names owners; for users and groups this checks nothing.
    await _check_refs(store, fields.get("user_id"), fields.get("group_id"))
    if not fields:
        return kind.view(current)
    row = await kind.update(store, id, **fields)
    if row is None:
        raise not_found(kind.name, id)
    return kind.view(row)


async def _delete(kind: _Kind[R, V, P], store: Store, id: str) -> s.Deleted:
    if not await kind.delete(store, id):
        raise not_found(kind.name, id)
    return s.Deleted(id=id)


async def _delete_owner(kind: _Kind[R, V, P], store: Store, id: str) -> s.Deleted:
    """Deletes a user or group after revoking its keys: the store would keep them,
    ownerless and so free of the limits and budget that came with the owner."""
    await _row(kind, store, id)
    # The key column naming the owner: "user_id" or "group_id".
    owned = {f"{kind.name}_id": id}
    done: set[str] = set()
    while True:
        rows, _ = await db.list_keys(store, include_revoked=False, limit=500, offset=0, **owned)
        todo = [r.id for r in rows if r.id not in done]
        if not todo:
            break
        for key_id in todo:
            await db.revoke_key(store, key_id)
            done.add(key_id)
    return await _delete(kind, store, id)


# ---------------------------------------------------------------- keys


async def create_key(store: Store, spec: s.KeyCreate) -> s.KeyCreated:
    # As for users and groups, KeyCreate carries the store's create_key keywords, but for
    # ``duration``, which is turned into ``expires_at`` here.
    fields = msgspec.structs.asdict(spec)
    check_budget(fields)
    expires_at = _expiry(spec.expires_at, spec.duration, time.time())
    await _check_refs(store, spec.user_id, spec.group_id)
    del fields["duration"]
    fields["expires_at"] = expires_at
    new = generate_key()
    row = await db.create_key(store, **new.stored(), **fields)
    return s.KeyCreated(secret=new.secret, key=key_view(row))


async def key_row(store: Store, id: str) -> KeyRow:
    return await _row(_KEY, store, id)


_HASH = re.compile(r"[0-9a-f]{64}")


async def resolve_key(store: Store, ref: str) -> KeyRow:
    """A key named by its secret, its SHA-256 hex (LiteLLM's "token") or its id."""
    row = None
    if ref.startswith(KEY_PREFIX):
        row = await db.get_key_by_hash(store, hash_key(ref))
    else:
        if _HASH.fullmatch(ref):
            row = await db.get_key_by_hash(store, ref)
        if row is None:
            row = await db.get_key(store, ref)
    if row is None:
        # The reference may be a secret: never repeat it.
        raise GatewayError(404, "No key matches the one given.", code="key_not_found")
    return row


async def get_key(store: Store, id: str) -> s.KeyView:
    return key_view(await key_row(store, id))


async def list_keys(store: Store, q: s.KeyListQuery) -> s.KeyPage:
    rows, total = await db.list_keys(
        store,
        user_id=q.user_id,
        group_id=q.group_id,
        include_revoked=q.include_revoked,
        limit=q.limit,
        offset=q.offset,
    )
    return _page(_KEY, rows, total, q)


async def update_key(store: Store, id: str, patch: s.KeyUpdate) -> s.KeyView:
    fields = _set_fields(patch, skip=("duration",))
    expires_at = _expiry(patch.expires_at, patch.duration, time.time())
    if expires_at is not UNSET:
        fields["expires_at"] = expires_at
    return await _update(_KEY, store, id, fields)


async def revoke_key(store: Store, id: str) -> s.KeyView:
    row = await db.revoke_key(store, id)
    if row is None:
        raise not_found("key", id)
    return key_view(row)


async def delete_key(store: Store, id: str) -> s.Deleted:
    return await _delete(_KEY, store, id)


# ---------------------------------------------------------------- users


async def create_user(store: Store, spec: s.UserCreate) -> s.UserView:
    return await _create(_USER, db.create_user, store, spec)


async def user_row(store: Store, id: str) -> UserRow:
    return await _row(_USER, store, id)


async def get_user(store: Store, id: str) -> s.UserDetail:
    row = await user_row(store, id)
    groups = await db.groups_of(store, id)
    view = user_view(row)
    return s.UserDetail(**msgspec.structs.asdict(view), groups=[g.id for g in groups])


async def list_users(store: Store, q: s.PageQuery) -> s.UserPage:
    rows, total = await db.list_users(store, limit=q.limit, offset=q.offset)
    return _page(_USER, rows, total, q)


async def update_user(store: Store, id: str, patch: s.UserUpdate) -> s.UserView:
    return await _update(_USER, store, id, _set_fields(patch))


async def delete_user(store: Store, id: str) -> s.Deleted:
    return await _delete_owner(_USER, store, id)


# ---------------------------------------------------------------- groups and memberships


async def create_group(store: Store, spec: s.GroupCreate) -> s.GroupView:
    return await _create(_GROUP, db.create_group, store, spec)


async def group_row(store: Store, id: str) -> GroupRow:
    return await _row(_GROUP, store, id)


async def get_group(store: Store, id: str) -> s.GroupView:
    return group_view(await group_row(store, id))


async def list_groups(store: Store, q: s.PageQuery) -> s.GroupPage:
    rows, total = await db.list_groups(store, limit=q.limit, offset=q.offset)
    return _page(_GROUP, rows, total, q)


async def update_group(store: Store, id: str, patch: s.GroupUpdate) -> s.GroupView:
    return await _update(_GROUP, store, id, _set_fields(patch))


async def delete_group(store: Store, id: str) -> s.Deleted:
    return await _delete_owner(_GROUP, store, id)


async def list_members(store: Store, group_id: str) -> s.MemberList:
    await group_row(store, group_id)
    members = await db.list_members(store, group_id)
    return s.MemberList(
        data=[s.MemberView(group_id=group_id, user_id=m.user_id, role=m.role) for m in members]
    )


async def add_member(store: Store, group_id: str, spec: s.MemberAdd) -> s.MemberView:
    await group_row(store, group_id)
    await user_row(store, spec.user_id)
    await db.add_member(store, group_id=group_id, user_id=spec.user_id, role=spec.role)
    return s.MemberView(group_id=group_id, user_id=spec.user_id, role=spec.role)


async def remove_member(store: Store, group_id: str, user_id: str) -> s.Deleted:
    if not await db.remove_member(store, group_id=group_id, user_id=user_id):
        raise GatewayError(
            404, f"User '{user_id}' is not a member of group '{group_id}'.", code="not_found"
        )
    return s.Deleted(id=user_id)
