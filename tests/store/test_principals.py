from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from pllm.store.engine import Store
from pllm.store.principals import (
    AlreadyExists,
    NotFound,
    add_member,
    auth_lookup,
    create_group,
    create_key,
    create_user,
    delete_group,
    delete_key,
    delete_user,
    get_group,
    get_key,
    get_key_by_hash,
    get_user,
    groups_by_ids,
    groups_of,
    list_groups,
    list_keys,
    list_members,
    list_users,
    remove_member,
    revision,
    revoke_key,
    update_group,
    update_key,
    update_user,
    user_lookup,
)

pytestmark = pytest.mark.anyio


def h(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def new_key(store: Store, secret: str, **kw: Any) -> Any:
    return await create_key(
        store, key_hash=h(secret), key_prefix="sk-" + secret[:4], key_suffix=secret[-4:], **kw
    )


@contextmanager
def count_queries(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def on_execute(*args: Any) -> None:
        seen.append(args[2])

    engine = store._engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


async def test_users_crud(store: Store) -> None:
    ada = await create_user(
        store, id="ada", email="ada@example.com", name="Ada", role="admin", rpm=10
    )
    assert ada.id == "ada" and ada.role == "admin" and ada.rpm == 10 and ada.metadata == {}
    generated = await create_user(store, name="Bob", metadata={"team": "x"})
    assert generated.id.startswith("user_") and len(generated.id) == len("user_") + 16
    assert await get_user(store, "ada") == ada
    assert await get_user(store, "nobody") is None
    with pytest.raises(AlreadyExists):
        await create_user(store, id="ada")

    changed = await update_user(
        store, "ada", name="Ada L.", allowed_models=["gpt-4o"], budget_period="monthly"
    )
    assert changed is not None
    assert (changed.name, changed.allowed_models, changed.budget_period) == (
        "Ada L.",
        ("gpt-4o",),
        "monthly",
    )
    assert changed.updated_at >= ada.updated_at and changed.created_at == ada.created_at
    assert await get_user(store, "ada") == changed
    assert await update_user(store, "nobody", name="x") is None
    with pytest.raises(ValueError, match="id"):
        await update_user(store, "ada", id="other")

    rows, total = await list_users(store, limit=1)
    assert total == 2 and [r.id for r in rows] == ["ada"]
    rows, total = await list_users(store, limit=10, offset=1)
    assert total == 2 and [r.id for r in rows] == [generated.id]

    assert await delete_user(store, "ada") is True
    assert await delete_user(store, "ada") is False
    assert await get_user(store, "ada") is None


async def test_groups_crud(store: Store) -> None:
    eng = await create_group(store, id="eng", name="Engineering", max_budget=100.0)
    assert eng.max_budget == 100.0 and eng.budget_period is None
    generated = await create_group(store)
    assert generated.id.startswith("group_")
    with pytest.raises(AlreadyExists):
        await create_group(store, id="eng")
    updated = await update_group(store, "eng", tpm=1000, metadata={"cost_center": 7})
    assert updated is not None and updated.tpm == 1000 and updated.metadata == {"cost_center": 7}
    assert await get_group(store, "eng") == updated
    rows, total = await list_groups(store)
    assert total == 2 and {r.id for r in rows} == {"eng", generated.id}
    assert await delete_group(store, "eng") is True
    assert await get_group(store, "eng") is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("role", "owner"),
        ("budget_period", "hourly"),
        ("allowed_models", "gpt-4o"),
        ("metadata", ["not", "an", "object"]),
    ],
)
async def test_bad_values_are_rejected(store: Store, field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        await create_user(store, **{field: value})
    assert await revision(store) == 0


async def test_a_misspelt_limit_is_rejected(store: Store) -> None:
    with pytest.raises(TypeError, match="max_buget"):
        await create_group(store, max_buget=5.0)
    assert await revision(store) == 0


async def test_keys_crud(store: Store) -> None:
    await create_user(store, id="ada")
    await create_group(store, id="eng")
    key = await new_key(
        store, "sk-secret-one", alias="ci", user_id="ada", group_id="eng", expires_at=2e9
    )
    assert key.id.startswith("key_") and len(key.id) == 20
    assert (key.user_id, key.group_id, key.role, key.alias) == ("ada", "eng", "member", "ci")
    assert key.revoked_at is None and key.expires_at == 2e9
    assert await get_key(store, key.id) == key
    assert await get_key_by_hash(store, h("sk-secret-one")) == key
    assert await get_key_by_hash(store, h("nope")) is None

    with pytest.raises(AlreadyExists):
        await new_key(store, "sk-secret-one")
    with pytest.raises(NotFound, match="user 'ghost'"):
        await new_key(store, "sk-other", user_id="ghost")
    with pytest.raises(NotFound, match="group 'ghost'"):
        await new_key(store, "sk-other", group_id="ghost")

    changed = await update_key(store, key.id, role="admin", rpm=5, allowed_models=["a", "b"])
    assert changed is not None and changed.role == "admin" and changed.rpm == 5
    assert changed.allowed_models == ("a", "b") and changed.key_hash == key.key_hash
    with pytest.raises(ValueError, match="key_hash"):
        await update_key(store, key.id, key_hash="x")
    with pytest.raises(ValueError, match="bogus"):
        await update_key(store, key.id, bogus=1)
    with pytest.raises(NotFound):
        await update_key(store, key.id, user_id="ghost")
    assert await update_key(store, "key_missing", alias="x") is None
    cleared = await update_key(store, key.id, user_id=None, allowed_models=None)
    assert cleared is not None and cleared.user_id is None and cleared.allowed_models is None

    assert await delete_key(store, key.id) is True
    assert await delete_key(store, key.id) is False
    assert await get_key(store, key.id) is None


async def test_revoke_and_list_keys(store: Store) -> None:
    await create_user(store, id="ada")
    await create_group(store, id="eng")
    a = await new_key(store, "sk-aaaa-1", user_id="ada")
    b = await new_key(store, "sk-bbbb-2", user_id="ada", group_id="eng")
    c = await new_key(store, "sk-cccc-3", group_id="eng")

    revoked = await revoke_key(store, b.id)
    assert revoked is not None and revoked.revoked_at is not None
    again = await revoke_key(store, b.id)
    assert again is not None and again.revoked_at == revoked.revoked_at  # first time kept
    assert await revoke_key(store, "key_missing") is None

    rows, total = await list_keys(store)
    assert total == 2 and {r.id for r in rows} == {a.id, c.id}
    rows, total = await list_keys(store, include_revoked=True)
    assert total == 3 and [r.id for r in rows] == [a.id, b.id, c.id]  # oldest first
    rows, total = await list_keys(store, user_id="ada", include_revoked=True)
    assert total == 2 and {r.id for r in rows} == {a.id, b.id}
    rows, total = await list_keys(store, group_id="eng")
    assert total == 1 and [r.id for r in rows] == [c.id]
    rows, total = await list_keys(store, include_revoked=True, limit=1, offset=1)
    assert total == 3 and [r.id for r in rows] == [b.id]


async def test_memberships(store: Store) -> None:
    for user in ("ada", "bob"):
        await create_user(store, id=user)
    for group in ("eng", "ops"):
        await create_group(store, id=group)
    assert (await add_member(store, "eng", "ada")).role == "member"
    await add_member(store, "eng", "bob")
    await add_member(store, "ops", "ada")
    again = await add_member(store, "eng", "ada", role="admin")  # sets the role
    assert again.role == "admin"
    members = await list_members(store, "eng")
    assert [(m.user_id, m.role) for m in members] == [("ada", "admin"), ("bob", "member")]
    assert [g.id for g in await groups_of(store, "ada")] == ["eng", "ops"]
    with pytest.raises(NotFound, match="user"):
        await add_member(store, "eng", "ghost")
    with pytest.raises(NotFound, match="group"):
        await add_member(store, "ghost", "ada")
    with pytest.raises(NotFound):
        await list_members(store, "ghost")
    with pytest.raises(NotFound):
        await groups_of(store, "ghost")
    with pytest.raises(ValueError):
        await add_member(store, "eng", "ada", role="owner")

    assert await remove_member(store, "eng", "bob") is True
    assert await remove_member(store, "eng", "bob") is False
    assert [m.user_id for m in await list_members(store, "eng")] == ["ada"]


async def test_deleting_a_user_or_group_keeps_their_keys(store: Store) -> None:
    await create_user(store, id="ada")
    await create_group(store, id="eng")
    await add_member(store, "eng", "ada")
    key = await new_key(store, "sk-keep-1", user_id="ada", group_id="eng")
    await delete_user(store, "ada")
    assert await list_members(store, "eng") == []  # membership cascaded
    kept = await get_key(store, key.id)
    assert kept is not None and kept.user_id is None and kept.group_id == "eng"
    await delete_group(store, "eng")
    kept = await get_key(store, key.id)
    assert kept is not None and kept.group_id is None


async def test_auth_lookup_joins(store: Store) -> None:
    await create_user(store, id="ada", rpm=7)
    await create_user(store, id="bob")
    for group in ("eng", "ops", "research"):
        await create_group(store, id=group)
    await add_member(store, "ops", "ada")
    await add_member(store, "eng", "ada")
    await add_member(store, "research", "bob")
    k1 = await new_key(store, "sk-one-1111", user_id="ada", group_id="research")
    k2 = await new_key(store, "sk-two-2222", user_id="ada", group_id="eng")  # also via user
    k3 = await new_key(store, "sk-three-333")
    k4 = await new_key(store, "sk-four-4444", group_id="ops")
    await revoke_key(store, k4.id)

    hashes = [h(s) for s in ("sk-one-1111", "sk-two-2222", "sk-three-333", "sk-four-4444")]
    with count_queries(store) as queries:
        found = await auth_lookup(store, [*hashes, h("unknown"), hashes[0]])
    assert len([q for q in queries if q.lstrip().upper().startswith("SELECT")]) <= 4

    assert set(found) == set(hashes)
    one = found[hashes[0]]
    assert one.key == k1 and one.user is not None and one.user.rpm == 7
    assert [g.id for g in one.groups] == ["research", "eng", "ops"]  # own group first
    two = found[hashes[1]]
    assert two.key == k2 and [g.id for g in two.groups] == ["eng", "ops"]  # once each
    three = found[hashes[2]]
    assert three.key == k3 and three.user is None and three.groups == ()
    four = found[hashes[3]]  # revoked keys are returned; the authenticator decides
    assert four.key.revoked_at is not None and [g.id for g in four.groups] == ["ops"]
    assert await auth_lookup(store, []) == {}


async def test_user_lookup_and_groups_by_ids(store: Store) -> None:
    await create_user(store, id="ada")
    for group in ("eng", "ops"):
        await create_group(store, id=group)
    await add_member(store, "ops", "ada")
    await add_member(store, "eng", "ada")
    user, member_of = await user_lookup(store, "ada")
    assert user is not None and user.id == "ada"
    assert [g.id for g in member_of] == ["eng", "ops"]
    assert await user_lookup(store, "ghost") == (None, ())
    found = await groups_by_ids(store, ["ops", "ghost", "eng", "ops"])
    assert [g.id for g in found] == ["ops", "eng"]
    assert await groups_by_ids(store, []) == ()


async def test_every_write_bumps_the_revision(store: Store) -> None:
    assert await revision(store) == 0
    await create_user(store, id="ada")
    await create_group(store, id="eng")
    await add_member(store, "eng", "ada")
    key = await new_key(store, "sk-rev-0001", user_id="ada")
    await update_key(store, key.id, alias="x")
    await update_user(store, "ada", name="Ada")
    await update_group(store, "eng", name="Eng")
    await revoke_key(store, key.id)
    await remove_member(store, "eng", "ada")
    await delete_key(store, key.id)
    await delete_group(store, "eng")
    await delete_user(store, "ada")
    assert await revision(store) == 12
    # Reads, failed writes and writes that find nothing leave it alone.
    await auth_lookup(store, [h("x")])
    await list_keys(store)
    await create_group(store, id="g1")
    with pytest.raises(AlreadyExists):
        await create_group(store, id="g1")
    assert await revision(store) == 13  # the first g1
    assert await delete_user(store, "ada") is False
    assert await update_user(store, "ada", name="x") is None
    assert await remove_member(store, "g1", "ada") is False
    assert await revision(store) == 13
