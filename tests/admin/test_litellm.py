"""LiteLLM's management routes, driven with the payloads LiteLLM's docs and clients send."""

from __future__ import annotations

import datetime

from pllm.auth.keys import hash_key
from tests.admin.client import Client
from tests.admin.conftest import BOTH_DATABASES


@BOTH_DATABASES
def test_key_generate_with_litellm_fields(client: Client) -> None:
    client.post("/admin/users", json={"id": "krrish"})
    client.post("/admin/groups", json={"id": "core"})
    r = client.post(
        "/key/generate",
        json={
            "models": ["gpt-3.5-turbo", "gpt-4"],
            "max_budget": 10,
            "budget_duration": "30d",
            "rpm_limit": 100,
            "tpm_limit": 1000,
            "max_parallel_requests": 4,
            "user_id": "krrish",
            "team_id": "core",
            "metadata": {"user": "ishaan@berri.ai"},
            "duration": "20m",
            "key_alias": "my-key",
        },
    )
    assert r.status == 200, r.body
    body = r.json()
    assert body["key"].startswith("sk-")
    assert body["key_name"] == f"{body['key'][:7]}…{body['key'][-4:]}"
    assert body["token"].startswith("key_")
    expires = datetime.datetime.fromisoformat(body["expires"])
    assert expires.tzinfo is not None
    left = expires - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=19) < left <= datetime.timedelta(minutes=20)
    assert body["models"] == ["gpt-3.5-turbo", "gpt-4"]
    assert (body["rpm_limit"], body["tpm_limit"], body["max_parallel_requests"]) == (100, 1000, 4)
    assert (body["max_budget"], body["budget_duration"]) == (10, "30d")
    assert (body["user_id"], body["team_id"], body["key_alias"]) == ("krrish", "core", "my-key")
    stored = client.get(f"/admin/keys/{body['token']}").json()
    assert stored["budget_period"] == "monthly" and stored["max_parallel"] == 4


def test_budget_duration_mapping(client: Client) -> None:
    for given, period in [
        ("1d", "daily"),
        ("24h", "daily"),
        ("7d", "weekly"),
        ("1w", "weekly"),
        ("30d", "monthly"),
        ("1mo", "monthly"),
    ]:
        token = client.post(
            "/key/generate", json={"max_budget": 1, "budget_duration": given}
        ).json()["token"]
        assert client.get(f"/admin/keys/{token}").json()["budget_period"] == period
    for bad in ("2d", "12h", "1y", "monthly"):
        r = client.post("/key/generate", json={"max_budget": 1, "budget_duration": bad})
        assert r.status == 400 and r.error["param"] == "budget_duration"
    # An empty model list means every model, as in LiteLLM.
    token = client.post("/key/generate", json={"models": []}).json()["token"]
    assert client.get(f"/admin/keys/{token}").json()["allowed_models"] is None


def test_key_generate_rejects_settings_pllm_does_not_have(client: Client) -> None:
    r = client.post("/key/generate", json={"guardrails": ["x"]})
    assert r.status == 400 and r.error["param"] == "guardrails"
    assert client.get("/admin/keys").json()["total"] == 0


def test_key_info_by_secret_token_or_id(client: Client) -> None:
    created = client.post("/key/generate", json={"key_alias": "info", "rpm_limit": 7}).json()
    secret, token = created["key"], created["token"]
    for ref in (secret, hash_key(secret), token):
        r = client.get("/key/info", query={"key": ref})
        assert r.status == 200
        body = r.json()
        assert body["key"] == token
        assert body["info"]["key_alias"] == "info" and body["info"]["rpm_limit"] == 7
        assert body["info"]["spend"] == 0.0 and body["info"]["blocked"] is False
    r = client.get("/key/info", query={"key": "sk-unknown"})
    assert r.status == 404 and "sk-unknown" not in r.body.decode()
    r = client.get("/key/info")
    assert r.status == 400 and r.error["param"] == "key"


def test_key_info_without_key_describes_the_calling_admin_key(client: Client) -> None:
    created = client.post("/admin/keys", json={"role": "admin", "alias": "me"}).json()
    r = client.get("/key/info", key=created["secret"])
    assert r.status == 200 and r.json()["info"]["key_alias"] == "me"


@BOTH_DATABASES
def test_key_update_and_delete(client: Client) -> None:
    one = client.post("/key/generate", json={"models": ["a"], "max_budget": 5}).json()
    two = client.post("/key/generate", json={}).json()
    r = client.post(
        "/key/update",
        json={
            "key": one["key"],
            "models": ["a", "b"],
            "rpm_limit": 9,
            "budget_duration": "1d",
            "max_budget": None,
        },
    )
    assert r.status == 200
    info = r.json()["info"]
    assert info["models"] == ["a", "b"] and info["rpm_limit"] == 9 and info["max_budget"] is None
    assert info["budget_duration"] == "1d"
    r = client.post("/key/update", json={"key": one["token"], "tpm_limit": 0})
    assert r.status == 400 and r.error["param"] == "tpm_limit"
    r = client.post("/key/update", json={"rpm_limit": 1})
    assert r.status == 400 and r.error["param"] == "key"

    # One unknown key: nothing is deleted.
    r = client.post("/key/delete", json={"keys": [one["key"], "sk-nope"]})
    assert r.status == 404
    assert client.get("/admin/keys").json()["total"] == 2
    r = client.post("/key/delete", json={"keys": [one["key"], two["token"]]})
    assert r.status == 200 and r.json() == {"deleted_keys": [one["token"], two["token"]]}
    assert client.get("/admin/keys", query={"include_revoked": "true"}).json()["total"] == 0


@BOTH_DATABASES
def test_user_new_creates_the_user_and_a_key(client: Client) -> None:
    client.post("/team/new", json={"team_id": "t1"})
    r = client.post(
        "/user/new",
        json={
            "user_id": "ishaan",
            "user_email": "ishaan@example.test",
            "user_role": "proxy_admin",
            "models": ["gpt-4o"],
            "max_budget": 20,
            "budget_duration": "7d",
            "tpm_limit": 500,
            "rpm_limit": 5,
            "teams": ["t1"],
            "metadata": {"dept": "ml"},
        },
    )
    assert r.status == 200, r.body
    body = r.json()
    assert body["user_id"] == "ishaan" and body["user_role"] == "proxy_admin"
    assert body["key"].startswith("sk-") and body["token"].startswith("key_")
    assert body["teams"] == ["t1"] and body["budget_duration"] == "7d"
    user = client.get("/admin/users/ishaan").json()
    assert (
        user["role"] == "admin" and user["budget_period"] == "weekly" and user["groups"] == ["t1"]
    )
    key = client.get(f"/admin/keys/{body['token']}").json()
    assert key["user_id"] == "ishaan" and key["role"] == "admin"
    # A proxy_admin's key is an admin credential, as in LiteLLM.
    assert client.get("/admin/users", key=body["key"]).status == 200

    for role, ours in [
        ("internal_user", "member"),
        ("internal_user_viewer", "viewer"),
        ("proxy_admin_viewer", "viewer"),
    ]:
        made = client.post("/user/new", json={"user_role": role}).json()
        assert client.get(f"/admin/users/{made['user_id']}").json()["role"] == ours
    r = client.post("/user/new", json={"user_role": "customer"})
    assert r.status == 400 and r.error["param"] == "user_role"
    r = client.post("/user/new", json={"user_id": "x", "teams": ["missing"]})
    assert r.status == 404
    assert client.get("/admin/users/x").status == 404
    r = client.post("/user/new", json={"user_id": "nokey", "auto_create_key": False})
    assert r.json()["key"] is None
    assert client.post("/user/new", json={"user_id": "ishaan"}).status == 409


@BOTH_DATABASES
def test_team_new_with_members(client: Client) -> None:
    client.post("/admin/users", json={"id": "known"})
    r = client.post(
        "/team/new",
        json={
            "team_alias": "Search",
            "models": ["gpt-4o"],
            "max_budget": 100,
            "budget_duration": "1mo",
            "tpm_limit": 10000,
            "rpm_limit": 100,
            "members_with_roles": [
                {"role": "admin", "user_id": "known"},
                {"role": "user", "user_id": "newbie", "user_email": "n@x.test"},
            ],
        },
    )
    assert r.status == 200, r.body
    body = r.json()
    team = body["team_id"]
    assert team.startswith("group_") and body["team_alias"] == "Search"
    assert body["budget_duration"] == "30d" and body["models"] == ["gpt-4o"]
    members = client.get(f"/admin/teams/{team}/members").json()["data"]
    assert {(m["user_id"], m["role"]) for m in members} == {
        ("known", "admin"),
        ("newbie", "member"),
    }
    assert client.get("/admin/users/newbie").json()["email"] == "n@x.test"
    r = client.post("/team/new", json={"members_with_roles": [{"role": "owner", "user_id": "a"}]})
    assert r.status == 400 and r.error["param"] == "members_with_roles[0].role"
