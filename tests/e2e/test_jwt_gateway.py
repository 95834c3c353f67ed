"""JWTs end to end: accepted on the API, rejected with a bare 401, roles on the admin API,
and the user's limits applied to a JWT caller."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt as pyjwt
import pytest

from tests.e2e.gateway import GatewayProcess
from tests.e2e.tenancy import MASTER, Admin, chat, http

SECRET = "hs256-shared-secret-for-tests-0123456789abcdef"

CONFIG = f"""
model_list:
  - model_name: cheap
    litellm_params:
      model: mock/cheap
general_settings:
  master_key: {MASTER}
  auth_refresh_interval: 0.1
  jwt:
    algorithms: [HS256]
    secret: {SECRET}
    issuer: https://idp.test
    audience: pllm
"""


def token(claims: dict[str, Any], secret: str = SECRET, alg: str = "HS256") -> str:
    now = int(time.time())
    base = {"iss": "https://idp.test", "aud": "pllm", "sub": "jwt-user", "exp": now + 300}
    return pyjwt.encode({**base, **claims}, secret, algorithm=alg)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(CONFIG, tmp_path_factory.mktemp("jwt")) as g:
        Admin(g).wait_ready()
        yield g


def test_valid_token_is_accepted(gw: GatewayProcess) -> None:
    assert chat(gw, token({}))[0] == 200


@pytest.mark.parametrize(
    "bad",
    [
        token({"aud": "other"}),
        token({"iss": "https://evil"}),
        token({"exp": int(time.time()) - 3600}),
        token({}, secret="another-secret-of-sufficient-length-0123456789"),
        token({}).rsplit(".", 1)[0] + ".",
    ],
)
def test_bad_tokens_get_a_bare_401(gw: GatewayProcess, bad: str) -> None:
    status, _, body = chat(gw, bad)
    assert status == 401
    assert body["error"]["message"] == "Invalid JWT."
    assert bad not in gw.logs()


def test_roles_on_the_admin_api(gw: GatewayProcess) -> None:
    status, _, _ = http("GET", f"{gw.admin_url}/admin/keys", key=token({"role": "member"}))
    assert status == 403
    status, _, _ = http("GET", f"{gw.admin_url}/admin/keys", key=token({"role": "admin"}))
    assert status == 200


def test_user_limits_apply_to_jwt_callers(gw: GatewayProcess) -> None:
    Admin(gw).call("POST", "/admin/users", {"id": "limited-jwt-user", "rpm": 2})
    time.sleep(0.3)
    bearer = token({"sub": "limited-jwt-user"})
    assert [chat(gw, bearer)[0] for _ in range(3)] == [200, 200, 429]
