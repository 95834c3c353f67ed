"""/admin/keys: the CRUD flow, validation, and the secret being shown exactly once."""

from __future__ import annotations

import asyncio
import time

import msgspec
from sqlalchemy import select

from pllm.admin.app import AdminApp
from pllm.auth.keys import hash_key
from pllm.store import tables
from tests.admin.client import Client
from tests.admin.conftest import BOTH_DATABASES


def test_create_returns_the_secret_once_and_a_masked_view(client: Client) -> None:
    r = client.post(
        "/admin/keys",
        json={"alias": "ci", "rpm": 10, "allowed_models": ["gpt-4o"], "metadata": {"team": "x"}},
    )
    assert r.status == 201
    body = r.json()
    secret = body["secret"]
    assert secret.startswith("sk-") and len(secret) > 40
    assert "not" in body["warning"] and "once" in body["warning"]
    view = body["key"]
    assert view["key"] == f"{secret[:7]}…{secret[-4:]}"
    assert view["key_prefix"] == secret[:7] and view["key_suffix"] == secret[-4:]
    assert view["alias"] == "ci" and view["rpm"] == 10 and view["role"] == "member"
    assert view["allowed_models"] == ["gpt-4o"] and view["metadata"] == {"team": "x"}
    assert view["expires_at"] is None and view["revoked_at"] is None
    assert secret not in msgspec.json.encode(view).decode()


@BOTH_DATABASES
def test_crud_flow(client: Client) -> None:
    client.post("/admin/users", json={"id": "u1"})
    client.post("/admin/groups", json={"id": "g1"})
    created = client.post(
        "/admin/keys", json={"user_id": "u1", "group_id": "g1", "duration": "30d"}
    )
    key = created.json()["key"]
    assert abs(key["expires_at"] - (time.time() + 30 * 86400)) < 60
    other = client.post("/admin/keys", json={}).json()["key"]

    assert client.get(f"/admin/keys/{key['id']}").json() == key
    page = client.get("/admin/keys").json()
    assert [k["id"] for k in page["data"]] == [key["id"], other["id"]]
    assert (page["total"], page["limit"], page["offset"]) == (2, 100, 0)
    assert [k["id"] for k in client.get("/admin/keys", query={"user_id": "u1"}).json()["data"]] == [
        key["id"]
    ]
    assert client.get("/admin/keys", query={"group_id": "g1"}).json()["total"] == 1
    paged = client.get("/admin/keys", query={"limit": 1, "offset": 1}).json()
    assert [k["id"] for k in paged["data"]] == [other["id"]] and paged["total"] == 2

    r = client.patch(f"/admin/keys/{key['id']}", json={"rpm": 5, "alias": "renamed", "tpm": None})
    assert r.status == 200
    assert r.json()["rpm"] == 5 and r.json()["alias"] == "renamed" and r.json()["tpm"] is None
    # null clears, absence keeps
    r = client.patch(f"/admin/keys/{key['id']}", json={"expires_at": None})
    assert r.json()["expires_at"] is None and r.json()["rpm"] == 5

    r = client.post(f"/admin/keys/{key['id']}/revoke")
    assert r.status == 200 and r.json()["revoked_at"] is not None
    assert client.get("/admin/keys").json()["total"] == 1
    assert client.get("/admin/keys", query={"include_revoked": "true"}).json()["total"] == 2

    assert client.delete(f"/admin/keys/{key['id']}").json() == {"id": key["id"], "deleted": True}
    r = client.get(f"/admin/keys/{key['id']}")
    assert r.status == 404 and r.error["code"] == "key_not_found"
    assert client.delete(f"/admin/keys/{key['id']}").status == 404
    assert client.post("/admin/keys/nope/revoke").status == 404
    assert client.patch("/admin/keys/nope", json={"rpm": 1}).status == 404


def test_validation_names_the_field(client: Client) -> None:
    cases = [
        ({"max_buget": 5}, "max_buget", "unknown_field"),
        ({"rpm": 0}, "rpm", "invalid_field"),
        ({"tpm": "many"}, "tpm", "invalid_field"),
        ({"max_parallel": -1}, "max_parallel", "invalid_field"),
        ({"max_budget": -1}, "max_budget", "invalid_field"),
        ({"budget_period": "yearly"}, "budget_period", "invalid_field"),
        ({"role": "root"}, "role", "invalid_field"),
        ({"allowed_models": "gpt-4o"}, "allowed_models", "invalid_field"),
        ({"allowed_models": [1]}, "allowed_models[0]", "invalid_field"),
        ({"metadata": []}, "metadata", "invalid_field"),
        ({"duration": "soon"}, "duration", "invalid_field"),
        ({"duration": "30d", "expires_at": 5}, "duration", "conflicting_fields"),
        ({"max_budget": 1, "soft_budget": 2}, "soft_budget", "conflicting_fields"),
        ({"user_id": "ghost"}, "user_id", "user_not_found"),
        ({"group_id": "ghost"}, "group_id", "group_not_found"),
    ]
    for body, param, code in cases:
        r = client.post("/admin/keys", json=body)
        assert r.status == 400, (body, r.body)
        assert r.error["param"] == param, (body, r.error)
        assert r.error["code"] == code, (body, r.error)
        assert r.error["type"] == "invalid_request_error"
        assert param.split("[")[0] in r.error["message"]
    r = client.post("/admin/keys", body=b"{nope")
    assert r.status == 400 and r.error["code"] == "invalid_json"
    r = client.post("/admin/keys", body=b"[]")
    assert r.status == 400
    r = client.get("/admin/keys", query={"limit": "0"})
    assert r.status == 400 and r.error["param"] == "limit"
    r = client.get("/admin/keys", query={"colour": "red"})
    assert r.status == 400 and r.error["param"] == "colour"
    r = client.patch("/admin/keys/x", json={"revoked_at": 1})
    assert r.status == 400 and r.error["param"] == "revoked_at"
    assert client.get("/admin/keys").json()["total"] == 0


def _text_of_every_table(app: AdminApp, runner: asyncio.Runner) -> str:
    async def dump() -> str:
        assert app.store is not None
        parts = []
        async with app.store.read() as conn:
            for table in tables.metadata.sorted_tables:
                for row in (await conn.execute(select(table))).all():
                    parts.append(repr(tuple(row)))
        return "\n".join(parts)

    return runner.run(dump())


@BOTH_DATABASES
def test_secret_never_appears_again_nor_in_the_database(
    client: Client, app: AdminApp, runner: asyncio.Runner
) -> None:
    secrets = []
    r = client.post("/admin/keys", json={"alias": "a", "role": "admin"})
    secrets.append(r.json()["secret"])
    r = client.post("/key/generate", json={"key_alias": "b"})
    secrets.append(r.json()["key"])
    r = client.post("/user/new", json={"user_id": "carol"})
    secrets.append(r.json()["key"])
    key_ids = [k["id"] for k in client.get("/admin/keys").json()["data"]]

    later = [
        client.get("/admin/keys"),
        client.get("/admin/keys", query={"include_revoked": "true"}),
        *(client.get(f"/admin/keys/{i}") for i in key_ids),
        *(client.get("/key/info", query={"key": s}) for s in secrets),
        *(client.post("/key/update", json={"key": s, "rpm_limit": 3}) for s in secrets),
        client.get("/key/info", key=secrets[0]),
        client.get("/admin/users/carol"),
        client.get("/admin/budgets"),
        client.post("/key/delete", json={"keys": [secrets[1]]}),
        client.post(f"/admin/keys/{key_ids[0]}/revoke"),
        client.get("/openapi.json"),
    ]
    assert all(r.status < 300 for r in later), [
        (r.status, r.body) for r in later if r.status >= 300
    ]
    for response in later:
        text = response.body.decode() + repr(response.headers)
        for secret in secrets:
            assert secret not in text
            assert secret[7:-4] not in text

    stored = _text_of_every_table(app, runner)
    assert stored  # the scan saw the rows
    for secret in secrets:
        assert secret not in stored
        assert secret[7:-4] not in stored
        assert hash_key(secret) in stored or secret == secrets[1]


@BOTH_DATABASES
def test_writes_bump_the_revision(client: Client, app: AdminApp, runner: asyncio.Runner) -> None:
    from pllm.store.principals import revision

    def current() -> int:
        assert app.store is not None
        return runner.run(revision(app.store))

    start = current()
    key_id = client.post("/admin/keys", json={}).json()["key"]["id"]
    after_create = current()
    assert after_create > start
    client.patch(f"/admin/keys/{key_id}", json={"rpm": 2})
    assert current() > after_create
    before = current()
    client.post(f"/admin/keys/{key_id}/revoke")
    assert current() > before
