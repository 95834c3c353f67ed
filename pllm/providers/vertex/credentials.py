"""Google credentials for Vertex AI, and the OAuth2 access tokens they get.

A credentials file is what Google's tools write and LiteLLM reads (``vertex_credentials``: a
path or the JSON itself; else ``GOOGLE_APPLICATION_CREDENTIALS``): a service account (an RS256
JWT signed with its key, exchanged at its ``token_uri`` by the JWT-bearer grant, RFC 7523) or
a gcloud user login (``authorized_user``: the refresh-token grant). Without a file, the
metadata server of the Google Cloud machine the gateway runs on. The JWT is made with PyJWT
and ``cryptography``; the whole flow is two small HTTP calls an hour, so it takes no
dependency on ``google-auth``.

Nothing here logs or raises with a key, an assertion, a token or a refresh token in it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

# PyJWT and cryptography are imported where a service account is used: ~10 MiB and ~40 ms
# that a gateway without Vertex deployments does not pay in every worker.

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"  # noqa: S105
METADATA_TOKEN_URL = f"http://metadata.google.internal{METADATA_TOKEN_PATH}"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# How long a signed assertion is good for: Google accepts at most an hour.
ASSERTION_LIFETIME_S = 3600

_FORM = "application/x-www-form-urlencoded"


class CredentialsError(ValueError):
    """Credentials that cannot be used; the message names the problem, never a secret."""


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One HTTP request for an access token."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    private_key_id: str | None
    private_key: RSAPrivateKey = field(repr=False)
    token_uri: str
    project_id: str | None

    @property
    def key(self) -> str:
        """What tells one credential from another (tokens are shared by it)."""
        return f"sa:{self.client_email}:{self.private_key_id}:{self.token_uri}"

    @property
    def extra_headers(self) -> tuple[tuple[str, str], ...]:
        return ()

    def assertion(self, now: float) -> str:
        issued = int(now)
        claims = {
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_S,
        }
        headers = {"kid": self.private_key_id} if self.private_key_id else None
        import jwt

        return jwt.encode(claims, self.private_key, algorithm="RS256", headers=headers)

    def token_request(self, now: float) -> TokenRequest:
        form = urllib.parse.urlencode(
            {"grant_type": JWT_BEARER, "assertion": self.assertion(now)}
        ).encode()
        return TokenRequest("POST", self.token_uri, (("content-type", _FORM),), form)


@dataclass(frozen=True, slots=True)
class AuthorizedUser:
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_uri: str
    quota_project_id: str | None

    @property
    def key(self) -> str:
        return f"user:{self.client_id}:{hash(self.refresh_token)}:{self.token_uri}"

    @property
    def project_id(self) -> str | None:
        return self.quota_project_id

    @property
    def extra_headers(self) -> tuple[tuple[str, str], ...]:
        # A user's token is not bound to a project: the quota project is named per request.
        if self.quota_project_id:
            return (("x-goog-user-project", self.quota_project_id),)
        return ()

    def token_request(self, now: float) -> TokenRequest:
        form = urllib.parse.urlencode(
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
            }
        ).encode()
        return TokenRequest("POST", self.token_uri, (("content-type", _FORM),), form)


@dataclass(frozen=True, slots=True)
class MetadataServer:
    """The default service account of the Google Cloud machine (GCE, GKE, Cloud Run)."""

    url: str = METADATA_TOKEN_URL

    @property
    def key(self) -> str:
        return f"metadata:{self.url}"

    @property
    def project_id(self) -> str | None:
        return None

    @property
    def extra_headers(self) -> tuple[tuple[str, str], ...]:
        return ()

    def token_request(self, now: float) -> TokenRequest:
        return TokenRequest("GET", self.url, (("metadata-flavor", "Google"),))


Credentials = ServiceAccount | AuthorizedUser | MetadataServer


def _string(info: Mapping[str, Any], name: str, what: str) -> str:
    value = info.get(name)
    if not isinstance(value, str) or not value:
        raise CredentialsError(f"{what} has no {name!r}")
    return value


def _optional(info: Mapping[str, Any], name: str) -> str | None:
    value = info.get(name)
    return value if isinstance(value, str) and value else None


def parse_credentials(info: Any, what: str = "the credentials") -> Credentials:
    """Credentials from the parsed JSON of a credentials file."""
    if not isinstance(info, dict):
        raise CredentialsError(f"{what} is not a JSON object")
    kind = info.get("type")
    if kind == "service_account":
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        pem = _string(info, "private_key", what)
        try:
            key = load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError):
            raise CredentialsError(f"{what}: private_key is not a PEM private key") from None
        if not isinstance(key, RSAPrivateKey):
            raise CredentialsError(f"{what}: private_key is not an RSA key")
        return ServiceAccount(
            client_email=_string(info, "client_email", what),
            private_key_id=_optional(info, "private_key_id"),
            private_key=key,
            token_uri=_optional(info, "token_uri") or DEFAULT_TOKEN_URI,
            project_id=_optional(info, "project_id"),
        )
    if kind == "authorized_user":
        return AuthorizedUser(
            client_id=_string(info, "client_id", what),
            client_secret=_string(info, "client_secret", what),
            refresh_token=_string(info, "refresh_token", what),
            token_uri=_optional(info, "token_uri") or DEFAULT_TOKEN_URI,
            quota_project_id=_optional(info, "quota_project_id"),
        )
    raise CredentialsError(
        f"{what} is of type {kind!r}: 'service_account' and 'authorized_user' are supported"
    )


def load_credentials(value: str | Mapping[str, Any], what: str) -> Credentials:
    """``vertex_credentials``: the JSON of a credentials file (a string or a mapping), or the
    path of one."""
    if isinstance(value, Mapping):
        return parse_credentials(dict(value), what)
    text = value.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as e:
            raise CredentialsError(f"{what}: cannot read {value!r} ({e.strerror or e})") from None
        what = f"{what} ({value})"
    try:
        info = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise CredentialsError(f"{what} is not valid JSON") from None
    return parse_credentials(info, what)


def _well_known_file(env: Mapping[str, str]) -> Path | None:
    """gcloud's application default credentials (``gcloud auth application-default login``)."""
    config = env.get("CLOUDSDK_CONFIG")
    if config:
        path = Path(config) / "application_default_credentials.json"
    elif env.get("HOME"):
        path = Path(env["HOME"]) / ".config" / "gcloud" / "application_default_credentials.json"
    else:
        return None
    return path if path.is_file() else None


def find_credentials(given: str | Mapping[str, Any] | None, env: Mapping[str, str]) -> Credentials:
    """The deployment's credentials as LiteLLM (and Google's libraries) find them: the given
    ones, ``VERTEXAI_CREDENTIALS``, ``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application
    default credentials, then the metadata server."""
    if given:
        return load_credentials(given, "vertex_credentials")
    for name in ("VERTEXAI_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"):
        value = env.get(name)
        if value:
            return load_credentials(value, name)
    path = _well_known_file(env)
    if path is not None:
        return load_credentials(str(path), "gcloud's application default credentials")
    host = env.get("GCE_METADATA_HOST")
    if host:
        return MetadataServer(f"http://{host}{METADATA_TOKEN_PATH}")
    return MetadataServer()
