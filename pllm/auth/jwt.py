"""JWTs as API credentials: signature, issuer, audience and expiry checks, JWKS handling.

The accepted algorithms come only from ``JwtSettings.algorithms``; the token's header just
says which of them it claims, and the key it is checked with is chosen by that algorithm's
family (the HS secret, or a JWKS key of the matching ``kty``/curve), so a token can never
make the gateway verify it with the wrong kind of key.

Messages of ``JwtRejected`` and ``JwksUnavailable`` are for the server log: they never
carry the token or key material, and clients only ever see a bare "Invalid JWT.".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import msgspec

from pllm.config.schema import JwtSettings

__all__ = ["JwksUnavailable", "JwtIdentity", "JwtRejected", "JwtVerifier"]

log = logging.getLogger("pllm.auth.jwt")

_MAX_TOKEN_CHARS = 16 * 1024
_MAX_HEADER_CHARS = 4 * 1024
_MAX_JWKS_BYTES = 1024 * 1024
_FETCH_TIMEOUT_S = 5.0
# A verified token is served from memory at most this long, so a key dropped from the
# JWKS stops working soon even for tokens that were already seen.
_VERIFIED_TTL_S = 60.0
_MAX_VERIFIED = 10_000
# With nothing cached every JWT request fails, so a failed first fetch is retried sooner
# than the configured refetch interval.
_EMPTY_RETRY_S = 5.0

_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

# The key each public-key algorithm needs: (kty, crv); crv None: any (RSA has none).
_KEY_KIND: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
_HMAC = frozenset({"HS256", "HS384", "HS512"})
# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


class JwtRejected(Exception):
    """The token is not an acceptable credential (the client gets a bare 401)."""


class JwksUnavailable(Exception):
    """No JWKS could be fetched and none is cached: the gateway cannot judge the token."""


@dataclass(frozen=True, slots=True)
class JwtIdentity:
    user_id: str
    groups: tuple[str, ...]
    role: str | None
    # UNIX seconds, the token's ``exp``.
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str | None
    # The configured algorithms this key may verify, each bound to its own PyJWK so that
    # PyJWT refuses any other algorithm with it.
    by_alg: Mapping[str, jwt.PyJWK]


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _unverified_header(token: str) -> dict[str, Any] | None:
    """The token's header if the token has the compact JWS shape; None otherwise."""
    if len(token) > _MAX_TOKEN_CHARS or _SHAPE.fullmatch(token) is None:
        return None
    segment = token[: token.index(".")]
    if len(segment) > _MAX_HEADER_CHARS:
        return None
    try:
        header = msgspec.json.decode(_b64url_decode(segment))
    except (ValueError, binascii.Error):  # msgspec.DecodeError is a ValueError
        return None
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    return header


def _scrub(text: str, token: str, secret: str | None) -> str:
    """Library messages are not ours to trust: drop any that quote the token or secret."""
    pieces = [p for p in token.split(".") if len(p) >= 8]
    if secret:
        pieces.append(secret)
    if any(p in text for p in pieces):
        return "(message withheld)"
    return text[:200]


async def _http_get(url: str) -> bytes:
    async with asyncio.timeout(_FETCH_TIMEOUT_S):
        return await asyncio.to_thread(_http_get_blocking, url)


def _http_get_blocking(url: str) -> bytes:
    # urlopen also speaks file:// and ftp://; a JWKS only ever comes over HTTP.
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("jwks_url must be an http:// or https:// URL")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, headers={"Accept": "application/json", "User-Agent": "pllm"}
    )
    with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_S) as response:  # noqa: S310
        body: bytes = response.read(_MAX_JWKS_BYTES + 1)
    if len(body) > _MAX_JWKS_BYTES:
        raise ValueError(f"JWKS document is larger than {_MAX_JWKS_BYTES} bytes")
    return body


class JwtVerifier:
    """Verifies bearer JWTs against one ``JwtSettings``; one instance per event loop."""

    def __init__(
        self,
        settings: JwtSettings,
        fetch_jwks: Callable[[str], Awaitable[bytes]] | None = None,
    ) -> None:
        self._settings = settings
        self._fetch_jwks = fetch_jwks or _http_get
        self._allowed = frozenset(a for a in settings.algorithms if a.lower() != "none")
        self._public_algs = tuple(a for a in settings.algorithms if a in _KEY_KIND)
        self._jwt = jwt.PyJWT(
            {
                "require": ["exp", "iss", "aud"],
                "verify_signature": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_aud": True,
                "verify_iss": True,
                # Short HMAC secrets and small RSA keys are refused rather than warned
                # about on every request.
                "enforce_minimum_key_length": True,
            }
        )
        secret_len = len(settings.secret.encode()) if settings.secret else 0
        for alg in sorted(self._allowed & _HMAC):
            if settings.secret and secret_len < _HMAC_MIN_BYTES[alg]:
                log.error(
                    "jwt.secret is %d bytes, shorter than the %d that %s requires "
                    "(RFC 7518 3.2): %s tokens will be rejected",
                    secret_len,
                    _HMAC_MIN_BYTES[alg],
                    alg,
                    alg,
                )
        # token -> (wall-clock time the entry stops being trusted, identity)
        self._verified: dict[str, tuple[float, JwtIdentity]] = {}
        self._keys: tuple[_Key, ...] | None = None
        self._keys_expire = 0.0  # monotonic
        self._next_fetch = 0.0  # monotonic: no fetch starts before this
        self._fetching: asyncio.Task[None] | None = None
        self._fetch_error = "JWKS not fetched yet"

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        """Whether a bearer token has the JWT shape (as opposed to a virtual key)."""
        return _unverified_header(token) is not None

    async def verify(self, token: str) -> JwtIdentity:
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < cached[0]:
                return cached[1]
            del self._verified[token]
        header = _unverified_header(token)
        if header is None:
            raise JwtRejected("not a well-formed JWT")
        alg = header["alg"]
        if alg not in self._allowed:
            raise JwtRejected(f"algorithm {alg[:20]!r} is not accepted")
        key: jwt.PyJWK | str
        if alg in _HMAC:
            if not self._settings.secret:
                raise JwtRejected(f"{alg} token but no jwt.secret is configured")
            key = self._settings.secret
        elif alg in _KEY_KIND:
            kid = header.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise JwtRejected("kid is not a string")
            key = await self._public_key(alg, kid)
        else:
            raise JwtRejected(f"algorithm {alg!r} is not supported")
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway,
            )
        except jwt.PyJWTError as exc:
            reason = _scrub(f"{type(exc).__name__}: {exc}", token, self._settings.secret)
            raise JwtRejected(reason) from None
        identity = self._identity(claims)
        self._remember(token, identity)
        return identity

    # ------------------------------------------------------------------ claims

    def _identity(self, claims: dict[str, Any]) -> JwtIdentity:
        s = self._settings
        exp = claims.get("exp")
        # PyJWT takes int(exp), which also accepts numeric strings.
        if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
            raise JwtRejected("exp is not a number")
        user = claims.get(s.user_claim)
        if not isinstance(user, str) or not user:
            raise JwtRejected(f"claim {s.user_claim!r} is missing or not a non-empty string")
        raw_groups = claims.get(s.groups_claim)
        groups: tuple[str, ...]
        if raw_groups is None:
            groups = ()
        elif isinstance(raw_groups, str):
            groups = (raw_groups,)
        elif isinstance(raw_groups, list) and all(isinstance(g, str) for g in raw_groups):
            groups = tuple(raw_groups)
        else:
            # Dropping groups would also drop their budgets and limits: refuse instead.
            raise JwtRejected(f"claim {s.groups_claim!r} is not a string or list of strings")
        role = claims.get(s.role_claim)
        if role is not None and not isinstance(role, str):
            raise JwtRejected(f"claim {s.role_claim!r} is not a string")
        return JwtIdentity(user_id=user, groups=groups, role=role, expires_at=float(exp))

    def _remember(self, token: str, identity: JwtIdentity) -> None:
        if len(self._verified) >= _MAX_VERIFIED:
            # Oldest first: entries are inserted in verification order.
            del self._verified[next(iter(self._verified))]
        until = min(identity.expires_at, time.time() + _VERIFIED_TTL_S)
        self._verified[token] = (until, identity)

    # ------------------------------------------------------------------ JWKS

    async def _public_key(self, alg: str, kid: str | None) -> jwt.PyJWK:
        keys = await self._jwks(force=False)
        if kid is None:
            usable = [k.by_alg[alg] for k in keys if alg in k.by_alg]
            if len(usable) != 1:
                raise JwtRejected(f"token has no kid and the JWKS has {len(usable)} {alg} keys")
            return usable[0]
        if not any(k.kid == kid for k in keys):
            # Likely a rotation the cached JWKS predates.
            keys = await self._jwks(force=True)
        matches = [k for k in keys if k.kid == kid]
        if not matches:
            raise JwtRejected(f"kid {kid[:64]!r} is not in the JWKS")
        usable = [k.by_alg[alg] for k in matches if alg in k.by_alg]
        if len(usable) != 1:
            raise JwtRejected(f"kid {kid[:64]!r} is not a single {alg} signing key")
        return usable[0]

    async def _jwks(self, *, force: bool) -> tuple[_Key, ...]:
        now = time.monotonic()
        if force or self._keys is None or now >= self._keys_expire:
            if self._fetching is None and now >= self._next_fetch:
                self._fetching = asyncio.get_running_loop().create_task(self._refresh())
            fetching = self._fetching
            if fetching is not None:
                # Shielded: one waiter giving up must not cancel the fetch the others share.
                await asyncio.shield(fetching)
        if self._keys is None:
            raise JwksUnavailable(self._fetch_error)
        return self._keys

    async def _refresh(self) -> None:
        started = time.monotonic()
        url = self._settings.jwks_url
        try:
            if not url:
                raise ValueError("no jwt.jwks_url is configured")
            keys = self._parse_jwks(await self._fetch_jwks(url))
        except Exception as exc:  # any failure: keep what we have, retry later
            self._fetch_error = f"JWKS fetch from {url} failed: {type(exc).__name__}: {exc}"[:300]
            retry = self._settings.jwks_refetch_interval
            if self._keys is None:
                retry = min(retry, _EMPTY_RETRY_S)
            self._next_fetch = started + retry
            log.warning("%s", self._fetch_error)
            return
        finally:
            self._fetching = None
        self._keys = keys
        self._keys_expire = started + self._settings.jwks_ttl
        self._next_fetch = started + self._settings.jwks_refetch_interval
        log.info("JWKS loaded from %s: %d usable keys", url, len(keys))

    def _parse_jwks(self, body: bytes) -> tuple[_Key, ...]:
        document = msgspec.json.decode(body)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("JWKS document is not an object with a 'keys' list")
        keys: list[_Key] = []
        for jwk in document["keys"]:
            if not isinstance(jwk, dict):
                continue
            kid = jwk.get("kid")
            if kid is not None and not isinstance(kid, str):
                continue
            if jwk.get("use", "sig") != "sig":
                continue
            ops = jwk.get("key_ops")
            if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
                continue
            by_alg: dict[str, jwt.PyJWK] = {}
            for alg in self._public_algs:
                if not self._fits(jwk, alg):
                    continue
                try:
                    by_alg[alg] = jwt.PyJWK(jwk, algorithm=alg)
                except (jwt.PyJWTError, LookupError, TypeError, ValueError):
                    # A key we cannot load never verifies anything; its neighbours still do.
                    log.warning("JWKS key %r unusable for %s", kid, alg)
            if by_alg:
                keys.append(_Key(kid=kid, by_alg=by_alg))
        return tuple(keys)

    @staticmethod
    def _fits(jwk: dict[str, Any], alg: str) -> bool:
        kty, crv = _KEY_KIND[alg]
        if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
            return False
        # "d" marks a private key: an IdP publishing one is broken, and it is not ours to hold.
        if "d" in jwk:
            return False
        declared = jwk.get("alg")
        return declared is None or declared == alg
