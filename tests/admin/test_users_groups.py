"""/admin/users, /admin/groups (and their /admin/teams alias), memberships."""

from __future__ import annotations

import pytest

from tests.admin.client import Client
from tests.admin.conftest import BOTH_DATABASES


@BOTH_DATABASES
def test_user_crud(client: Client) -> None:
    r = client.post(
        "/admin/users",
        json={
            "id": "alice",
            "email": "a@x.test",
            "role": "admin",
            "max_budget": 10,
            "budget_period": "monthly",
        },
    )
    assert r.status == 201
    alice = r.json()
    assert alice["id"] == "alice" and alice["role"] == "admin" and alice["max_budget"] == 10
    generated = client.post("/admin/users", json={"name": "Bob"}).json()
    assert generated["id"].startswith("user_") and generated["role"] == "member"

    r = client.post("/admin/users", json={"id": "alice"})
    assert r.status == 409 and r.error["code"] == "already_exists"

    assert client.get("/admin/users/alice").json() == {**alice, "groups": []}
    page = client.get("/admin/users").json()
    assert page["total"] == 2 and [u["id"] for u in page["data"]] == ["alice", generated["id"]]

    r = client.patch("/admin/users/alice", json={"name": "Alice", "max_budget": None})
    assert r.json()["name"] == "Alice" and r.json()["max_budget"] is None
    assert r.json()["email"] == "a@x.test"
    r = client.patch("/admin/users/alice", json={"emial": "typo"})
    assert r.status == 400 and r.error["param"] == "emial"

    assert client.delete("/admin/users/alice").status == 200
    assert client.get("/admin/users/alice").status == 404
    assert client.delete("/admin/users/alice").status == 404


@BOTH_DATABASES
def test_deleting_a_user_revokes_their_keys(client: Client) -> None:
    client.post("/admin/users", json={"id": "dave"})
    key = client.post("/admin/keys", json={"user_id": "dave"}).json()["key"]
    client.delete("/admin/users/dave")
    after = client.get(f"/admin/keys/{key['id']}").json()
    assert after["revoked_at"] is not None and after["user_id"] is None


@BOTH_DATABASES
@pytest.mark.parametrize("base", ["/admin/groups", "/admin/teams"])
def test_group_crud_and_members(client: Client, base: str) -> None:
    client.post("/admin/users", json={"id": "u1"})
    client.post("/admin/users", json={"id": "u2"})
    r = client.post(base, json={"id": "eng", "name": "Engineering", "tpm": 1000})
    assert r.status == 201 and r.json()["tpm"] == 1000
    assert client.post(base, json={"id": "eng"}).status == 409
    assert client.get(f"{base}/eng").json()["name"] == "Engineering"
    assert client.get(base).json()["total"] == 1
    assert client.patch(f"{base}/eng", json={"rpm": 3}).json()["rpm"] == 3

    r = client.post(f"{base}/eng/members", json={"user_id": "u1", "role": "admin"})
    assert r.status == 201 and r.json() == {"group_id": "eng", "user_id": "u1", "role": "admin"}
    client.post(f"{base}/eng/members", json={"user_id": "u2"})
    members = client.get(f"{base}/eng/members").json()["data"]
    assert [(m["user_id"], m["role"]) for m in members] == [("u1", "admin"), ("u2", "member")]
    assert client.get("/admin/users/u1").json()["groups"] == ["eng"]

    r = client.post(f"{base}/eng/members", json={"user_id": "ghost"})
    assert r.status == 404
    r = client.post(f"{base}/eng/members", json={})
    assert r.status == 400 and r.error["param"] == "user_id" and r.error["code"] == "missing_field"
    assert client.get(f"{base}/nope/members").status == 404

    assert client.delete(f"{base}/eng/members/u1").status == 200
    assert client.delete(f"{base}/eng/members/u1").status == 404
    assert [m["user_id"] for m in client.get(f"{base}/eng/members").json()["data"]] == ["u2"]

    key = client.post("/admin/keys", json={"group_id": "eng"}).json()["key"]
    assert client.delete(f"{base}/eng").status == 200
    assert client.get(f"{base}/eng").status == 404
    assert client.get(f"/admin/keys/{key['id']}").json()["revoked_at"] is not None
    assert client.get("/admin/users/u2").json()["groups"] == []


def test_ids_with_slashes_or_spaces_are_refused(client: Client) -> None:
    for bad in ("a/b", "a b", ""):
        r = client.post("/admin/users", json={"id": bad})
        assert r.status == 400 and r.error["param"] == "id"


def test_ids_are_url_decoded(client: Client) -> None:
    client.post("/admin/users", json={"id": "a@b.test"})
    assert client.get("/admin/users/a%40b.test").json()["id"] == "a@b.test"
