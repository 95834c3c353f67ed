"""Google OAuth2 for tests: a generated service-account file and a fake token endpoint.

``FakeGoogleToken`` speaks the token endpoint of Google's JWT-bearer grant (RFC 7523) as
Google documents it for service accounts: ``POST`` a form with ``grant_type`` and
``assertion``; the assertion must be an RS256 JWT signed by the account's key (checked against
its public key), with ``iss`` the account, ``aud`` the token URI, the cloud-platform ``scope``
and at most an hour between ``iat`` and ``exp``. It answers ``{"access_token", "expires_in",
"token_type"}`` or Google's ``{"error", "error_description"}``. ``issued`` lists the tokens it
gave, for a fake upstream to accept.
"""

from __future__ import annotations

import functools
import time
import urllib.parse
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .recording_server import RecordingServer, request_index

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CLIENT_EMAIL = "pllm-test@pllm-test-project.iam.gserviceaccount.com"
PROJECT = "pllm-test-project"
KEY_ID = "fake-key-id-1"

__all__ = ["CLIENT_EMAIL", "PROJECT", "SCOPE", "FakeGoogleToken", "service_account"]


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    # One key per test session: generating RSA keys is slow.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account(token_uri: str, project: str | None = PROJECT) -> dict[str, Any]:
    """The JSON of a service-account key file whose ``token_uri`` is ``token_uri``."""
    pem = _key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    info: dict[str, Any] = {
        "type": "service_account",
        "private_key_id": KEY_ID,
        "private_key": pem.decode(),
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    if project is not None:
        info["project_id"] = project
    return info


class FakeGoogleToken(RecordingServer):
    """See the module doc. ``token_uri`` goes in the service-account file."""

    def __init__(self, *, expires_in: int = 3599) -> None:
        super().__init__("127.0.0.1", 0, startup_timeout=5.0)
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.fail = False

    @property
    def token_uri(self) -> str:
        return f"{self.root_url}/token"

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/token", self._token)

    @staticmethod
    def _refuse(status: int, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=status)

    async def _token(self, request: web.Request) -> web.Response:
        if self.fail:
            return self._refuse(503, "temporarily_unavailable", "fake outage")
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return self._refuse(400, "invalid_request", "expected a form")
        with self.lock:
            body = self.requests[request_index(request)].body
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._refuse(400, "unsupported_grant_type", "Invalid grant_type")
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                _key().public_key(),
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=CLIENT_EMAIL,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as e:
            return self._refuse(400, "invalid_grant", f"Invalid JWT: {type(e).__name__}")
        if header.get("kid") != KEY_ID:
            return self._refuse(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("scope") != SCOPE:
            return self._refuse(400, "invalid_scope", "Invalid OAuth scope")
        if not 0 < claims["exp"] - claims["iat"] <= 3600 or claims["iat"] > time.time() + 60:
            return self._refuse(
                400, "invalid_grant", "Invalid JWT: Token must be a short-lived token"
            )
        token = f"ya29.fake-{request_index(request)}"
        with self.lock:
            self.issued.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    def valid(self, token: str) -> bool:
        with self.lock:
            return token in self.issued
