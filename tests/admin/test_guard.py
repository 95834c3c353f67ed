"""Every admin route refuses callers without the admin role; the table is walked, so a new
route is covered without touching this file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from pllm.admin.app import AdminApp
from pllm.admin.routing import Route
from pllm.config.schema import JwtSettings
from tests.admin.client import Client
from tests.admin.conftest import MASTER, make_settings, started

JWT_SECRET = "s" * 48
JWT = JwtSettings(
    algorithms=("HS256",), issuer="https://idp.test", audience="pllm", secret=JWT_SECRET
)


def _concrete(route: Route) -> str:
    path = route.path
    for name in route.path_params:
        path = path.replace("{" + name + "}", "x")
    return path


def _guarded(app: AdminApp) -> list[Route]:
    return [r for r in app.routes if r.guarded]


def _token(role: str | None, *, exp: float | None = None) -> str:
    claims: dict[str, object] = {
        "sub": "alice",
        "iss": JWT.issuer,
        "aud": JWT.audience,
        "exp": int(exp if exp is not None else time.time() + 600),
    }
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


@pytest.fixture
def jwt_app(tmp_path: Path, runner: asyncio.Runner) -> Iterator[AdminApp]:
    yield from started(runner, make_settings(tmp_path, jwt=JWT))


@pytest.fixture
def jwt_client(jwt_app: AdminApp, runner: asyncio.Runner) -> Client:
    return Client(jwt_app, runner, MASTER)


def _new_key(client: Client, **fields: object) -> str:
    r = client.post("/admin/keys", json=fields)
    assert r.status == 201, r.body
    secret: str = r.json()["secret"]
    return secret


def test_route_table_is_not_empty_and_mostly_guarded(app: AdminApp) -> None:
    open_paths = {r.path for r in app.routes if not r.guarded}
    assert open_paths == {"/health", "/openapi.json", "/swagger", "/swagger/{file}", "/ui",
                          "/ui/{page}", "/ui/assets/{file}"}  # fmt: skip
    assert len(_guarded(app)) >= 39


def test_every_route_without_a_key_is_401(client: Client, app: AdminApp) -> None:
    for route in _guarded(app):
        r = client.request(route.method, _concrete(route), json={}, key=None)
        assert r.status == 401, (route.method, route.path, r.body)
        assert r.error["code"] == "missing_api_key"
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_every_route_with_a_wrong_key_is_401(client: Client, app: AdminApp) -> None:
    for route in _guarded(app):
        for key in ("sk-not-a-real-key", MASTER + "x", "garbage"):
            r = client.request(route.method, _concrete(route), json={}, key=key)
            assert r.status == 401, (route.method, route.path, key)
            assert r.error["code"] == "invalid_api_key"


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_every_route_with_a_non_admin_key_is_403(client: Client, app: AdminApp, role: str) -> None:
    key = _new_key(client, role=role)
    for route in _guarded(app):
        r = client.request(route.method, _concrete(route), json={}, key=key)
        assert r.status == 403, (route.method, route.path, r.body)
        assert r.error["code"] == "forbidden"
        assert r.error["type"] == "permission_error"


def test_admin_key_is_accepted_until_revoked_or_expired(client: Client) -> None:
    key = _new_key(client, role="admin")
    assert client.get("/admin/keys", key=key).status == 200
    key_id = client.get("/admin/keys", key=key).json()["data"][0]["id"]
    assert client.post(f"/admin/keys/{key_id}/revoke").status == 200
    r = client.get("/admin/keys", key=key)
    assert r.status == 401 and r.error["code"] == "invalid_api_key"

    short = _new_key(client, role="admin", expires_at=time.time() + 3600)
    assert client.get("/admin/users", key=short).status == 200
    short_id = client.get("/admin/keys").json()["data"][-1]["id"]
    assert (
        client.patch(f"/admin/keys/{short_id}", json={"expires_at": time.time() - 1}).status == 200
    )
    assert client.get("/admin/users", key=short).status == 401


def test_x_api_key_header_is_accepted(client: Client) -> None:
    r = client.get("/admin/keys", key=None, headers={"x-api-key": MASTER})
    assert r.status == 200


def test_docs_and_health_need_no_key(client: Client) -> None:
    assert client.get("/openapi.json", key=None).status == 200
    assert client.get("/swagger", key=None).status == 200
    assert client.get("/health", key=None).json() == {"status": "ok"}


def test_without_master_key_everything_but_docs_is_refused(
    tmp_path: Path, runner: asyncio.Runner
) -> None:
    admin = AdminApp(make_settings(tmp_path, master_key=None))
    runner.run(admin.startup())
    try:
        client = Client(admin, runner, None)
        for route in _guarded(admin):
            for key in (None, "anything", MASTER):
                r = client.request(route.method, _concrete(route), json={}, key=key)
                assert r.status == 401, route.path
                assert "general_settings.master_key" in r.error["message"]
        assert client.get("/openapi.json").status == 200
        assert client.get("/swagger").status == 200
    finally:
        runner.run(admin.shutdown())


def test_jwt_with_admin_role_is_accepted(jwt_client: Client) -> None:
    assert jwt_client.get("/admin/keys", key=_token("admin")).status == 200
    r = jwt_client.post("/admin/users", json={"id": "bob"}, key=_token("admin"))
    assert r.status == 201


def test_jwt_without_admin_role_is_403_on_every_route(
    jwt_client: Client, jwt_app: AdminApp
) -> None:
    for role in ("member", None):
        token = _token(role)
        for route in _guarded(jwt_app):
            r = jwt_client.request(route.method, _concrete(route), json={}, key=token)
            assert r.status == 403, (route.path, role)


def test_invalid_jwts_are_401(jwt_client: Client) -> None:
    expired = _token("admin", exp=time.time() - 3600)
    forged = jwt.encode(
        {
            "sub": "x",
            "iss": JWT.issuer,
            "aud": JWT.audience,
            "exp": int(time.time()) + 60,
            "role": "admin",
        },
        "w" * 48,
        algorithm="HS256",
    )
    for token in (expired, forged):
        r = jwt_client.get("/admin/keys", key=token)
        assert r.status == 401 and r.error["message"] == "Invalid JWT."


def test_unknown_route_404_and_wrong_method_405(client: Client) -> None:
    r = client.get("/admin/nope")
    assert r.status == 404 and r.error["code"] == "unknown_url"
    r = client.request("PUT", "/admin/keys")
    assert r.status == 405 and r.error["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, POST"
    # 404/405 do not depend on the credential.
    assert client.get("/admin/nope", key=None).status == 404


def test_store_unavailable_is_503(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from pllm.admin import guard
    from pllm.store import principals
    from pllm.store.engine import StoreUnavailable

    async def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("database unavailable (sqlite://x): OSError: gone")

    monkeypatch.setattr(principals, "list_users", down)
    r = client.get("/admin/users")
    assert r.status == 503 and r.error["code"] == "store_unavailable"
    assert "sqlite" not in r.body.decode()  # the store's message (and URL) stays in the log
    # An admin key cannot be checked either: 503, not 401.
    monkeypatch.setattr(guard, "get_key_by_hash", down)
    r = client.get("/admin/keys", key="sk-some-admin-key")
    assert r.status == 503
    # The master key needs no database.
    assert client.get("/admin/keys").status == 200


def test_store_not_open_yet_is_503(tmp_path: Path, runner: asyncio.Runner) -> None:
    client = Client(AdminApp(make_settings(tmp_path)), runner, MASTER)
    r = client.get("/admin/keys")
    assert r.status == 503 and r.error["code"] == "store_unavailable"
    assert client.get("/health").json() == {"status": "starting"}
    assert client.get("/openapi.json").status == 200
