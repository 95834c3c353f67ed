"""Vertex AI credentials and access tokens: the JWT-bearer assertion (verified with the
service account's public key), the refresh-token grant, caching, refresh before expiry, one
refresh in flight, and failures that never quote a secret."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from pathlib import Path
from typing import Any

import jwt
import pytest

from pllm.errors import GatewayError
from pllm.providers.vertex.credentials import (
    AuthorizedUser,
    CredentialsError,
    MetadataServer,
    ServiceAccount,
    TokenRequest,
    find_credentials,
    load_credentials,
)
from pllm.providers.vertex.tokens import AccessTokens
from tests.fakes.google_auth import CLIENT_EMAIL, KEY_ID, SCOPE, _key, service_account

TOKEN_URI = "http://127.0.0.1:9/token"


def sa() -> ServiceAccount:
    creds = load_credentials(json.dumps(service_account(TOKEN_URI)), "test")
    assert isinstance(creds, ServiceAccount)
    return creds


def test_the_assertion_is_a_signed_jwt_bearer_grant() -> None:
    request = sa().token_request(1_700_000_000.0)
    assert request.method == "POST" and request.url == TOKEN_URI
    assert request.headers == (("content-type", "application/x-www-form-urlencoded"),)
    assert request.body is not None
    form = dict(urllib.parse.parse_qsl(request.body.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assertion = form["assertion"]
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
    claims = jwt.decode(
        assertion,
        _key().public_key(),
        algorithms=["RS256"],
        audience=TOKEN_URI,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "iss": CLIENT_EMAIL,
        "scope": SCOPE,
        "aud": TOKEN_URI,
        "iat": 1_700_000_000,
        "exp": 1_700_003_600,
    }


def test_credentials_from_a_path_a_string_a_mapping_and_the_environment(tmp_path: Path) -> None:
    info = service_account(TOKEN_URI)
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    assert load_credentials(str(path), "x").key == sa().key
    assert load_credentials(info, "x").project_id == "pllm-test-project"
    assert find_credentials(None, {"GOOGLE_APPLICATION_CREDENTIALS": str(path)}).key == sa().key
    assert find_credentials(None, {"VERTEXAI_CREDENTIALS": json.dumps(info)}).key == sa().key
    # gcloud's application default credentials, then the machine's metadata server.
    adc = tmp_path / "gcloud"
    adc.mkdir()
    user = {
        "type": "authorized_user",
        "client_id": "cid",
        "client_secret": "SECRET-cs",
        "refresh_token": "SECRET-rt",
        "quota_project_id": "qp",
    }
    (adc / "application_default_credentials.json").write_text(json.dumps(user))
    found = find_credentials(None, {"CLOUDSDK_CONFIG": str(adc)})
    assert isinstance(found, AuthorizedUser) and found.project_id == "qp"
    assert found.extra_headers == (("x-goog-user-project", "qp"),)
    assert "SECRET" not in repr(found)
    request = found.token_request(0)
    assert request.body is not None
    assert dict(urllib.parse.parse_qsl(request.body.decode()))["grant_type"] == "refresh_token"
    metadata = find_credentials(None, {"GCE_METADATA_HOST": "127.0.0.1:5"})
    assert isinstance(metadata, MetadataServer)
    assert metadata.token_request(0) == TokenRequest(
        "GET",
        "http://127.0.0.1:5/computeMetadata/v1/instance/service-accounts/default/token",
        (("metadata-flavor", "Google"),),
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("/nonexistent/sa.json", "cannot read"),
        ('{"type": "service_account"', "not valid JSON"),
        ('{"type": "external_account"}', "'external_account'"),
        ('{"type": "service_account", "client_email": "e"}', "no 'private_key'"),
        (
            '{"type": "service_account", "client_email": "e", "private_key": "SECRET-not-pem"}',
            "not a PEM private key",
        ),
    ],
)
def test_bad_credentials_say_why_without_secrets(value: str, says: str) -> None:
    with pytest.raises(CredentialsError) as e:
        load_credentials(value, "vertex_credentials")
    assert says in str(e.value) and "SECRET" not in str(e.value)


class Endpoint:
    """A token endpoint for AccessTokens: scripted answers, counted calls, a gate."""

    def __init__(self) -> None:
        self.calls: list[TokenRequest] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, request: TokenRequest) -> tuple[int, bytes]:
        self.calls.append(request)
        await self.gate.wait()
        status, body = self.answers.pop(0)
        return status, json.dumps(body).encode()


def test_tokens_are_cached_and_refreshed_before_they_expire() -> None:
    async def run() -> None:
        now = [1000.0]
        endpoint = Endpoint()
        endpoint.answers = [
            (200, {"access_token": "t1", "expires_in": 3600}),
            (200, {"access_token": "t2", "expires_in": 3600}),
        ]
        tokens = AccessTokens(sa(), endpoint, lambda: now[0])
        assert await tokens() == "t1"
        now[0] += 3000
        assert await tokens() == "t1" and len(endpoint.calls) == 1
        # Within five minutes of the expiry: the old token still serves, a refresh starts.
        now[0] += 400
        assert await tokens() == "t1"
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert await tokens() == "t2" and len(endpoint.calls) == 2

    asyncio.run(run())


def test_one_refresh_in_flight_for_many_waiters() -> None:
    async def run() -> None:
        endpoint = Endpoint()
        endpoint.answers = [(200, {"access_token": "t1", "expires_in": 3600})]
        endpoint.gate.clear()
        tokens = AccessTokens(sa(), endpoint)
        waiters = [asyncio.create_task(tokens()) for _ in range(50)]
        await asyncio.sleep(0.01)
        endpoint.gate.set()
        assert await asyncio.gather(*waiters) == ["t1"] * 50
        assert len(endpoint.calls) == 1

    asyncio.run(run())


def test_a_failed_refresh_is_a_retryable_error_and_the_next_request_tries_again() -> None:
    async def run() -> None:
        endpoint = Endpoint()
        endpoint.answers = [
            (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
            (200, {"access_token": "t1", "expires_in": 3600}),
        ]
        tokens = AccessTokens(sa(), endpoint)
        with pytest.raises(GatewayError) as e:
            await tokens()
        assert e.value.status == 502 and e.value.retryable
        assert "invalid_grant" in e.value.message and "Invalid JWT Signature" in e.value.message
        assert "assertion" not in e.value.message
        assert await tokens() == "t1"

    asyncio.run(run())


def test_a_token_that_cannot_be_a_header_is_refused() -> None:
    async def run() -> None:
        endpoint = Endpoint()
        endpoint.answers = [(200, {"access_token": "bad token\r\n", "expires_in": 3600})]
        with pytest.raises(GatewayError):
            await AccessTokens(sa(), endpoint)()

    asyncio.run(run())


def test_an_unreachable_endpoint_is_reported_by_kind() -> None:
    async def run() -> None:
        async def down(request: TokenRequest) -> tuple[int, bytes]:
            raise ConnectionRefusedError("SECRET-ish detail")

        with pytest.raises(GatewayError) as e:
            await AccessTokens(sa(), down)()
        assert "ConnectionRefusedError" in e.value.message and "SECRET" not in e.value.message

    asyncio.run(run())
