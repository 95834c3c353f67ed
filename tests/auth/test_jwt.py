"""JwtVerifier: the attack matrix, claims mapping and JWKS fetching against a real HTTP server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.utils import der_to_raw_signature

import pllm.auth.jwt as jwt_module
from pllm.auth.jwt import JwksUnavailable, JwtIdentity, JwtRejected, JwtVerifier
from pllm.config.schema import JwtSettings
from tests.fakes.recording_server import RecordingServer

T = TypeVar("T")

ISSUER = "https://idp.example.com/"
AUDIENCE = "pllm"
SECRET = "s3cret-that-is-at-least-thirty-two-bytes-long!"
DROP = object()

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC384_KEY = ec.generate_private_key(ec.SECP384R1())


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# ---------------------------------------------------------------------- token building


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 600,
    }
    for name, value in overrides.items():
        if value is DROP:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def compact(
    header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes] | None
) -> str:
    """A token built by hand, for shapes PyJWT refuses to produce."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if sign is not None else b""
    return f"{signing_input}.{b64(signature)}"


def hs256(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda msg: hmac.new(secret, msg, hashlib.sha256).digest()


def rs256(key: rsa.RSAPrivateKey) -> Callable[[bytes], bytes]:
    return lambda msg: key.sign(msg, padding.PKCS1v15(), hashes.SHA256())


def es_raw(
    key: ec.EllipticCurvePrivateKey, digest: hashes.HashAlgorithm
) -> Callable[[bytes], bytes]:
    return lambda msg: der_to_raw_signature(key.sign(msg, ec.ECDSA(digest)), key.curve)


def rsa_token(
    key: rsa.RSAPrivateKey = RSA_KEY, kid: str | None = "rsa-1", alg: str = "RS256", **kw: Any
) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(**kw), key, algorithm=alg, headers=headers)


def ec_token(key: ec.EllipticCurvePrivateKey = EC_KEY, kid: str = "ec-1", **kw: Any) -> str:
    alg = "ES384" if isinstance(key.curve, ec.SECP384R1) else "ES256"
    return jwt.encode(claims(**kw), key, algorithm=alg, headers={"kid": kid})


def hs_token(secret: str = SECRET, alg: str = "HS256", **kw: Any) -> str:
    return jwt.encode(claims(**kw), secret, algorithm=alg)


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str | None, **extra: Any) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, "use": "sig", **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, **extra}


def flip(token: str, segment: int, index: int, mask: int) -> str:
    parts = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[segment] + "=" * (-len(parts[segment]) % 4)))
    raw[index % len(raw)] ^= mask
    parts[segment] = b64(bytes(raw))
    return ".".join(parts)


# ---------------------------------------------------------------------- JWKS server


class JwksServer(RecordingServer):
    """Serves ``document`` at /jwks; every GET is recorded, so ``fetches`` counts them."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0, startup_timeout=5.0)
        self.document: Any = {
            "keys": [rsa_jwk(RSA_KEY, "rsa-1"), ec_jwk(EC_KEY, "ec-1"), ec_jwk(EC384_KEY, "ec-384")]
        }
        self.status = 200
        self.delay = 0.0

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/jwks", self._jwks)

    async def _jwks(self, request: web.Request) -> web.StreamResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        if isinstance(self.document, bytes):
            return web.Response(body=self.document, content_type="application/json")
        return web.json_response(self.document)

    @property
    def url(self) -> str:
        return f"{self.root_url}/jwks"

    @property
    def fetches(self) -> int:
        with self.lock:
            return len(self.requests)


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/jwks"


def pk_settings(url: str, *algorithms: str, **kw: Any) -> JwtSettings:
    return JwtSettings(
        algorithms=algorithms or ("RS256",),
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=url,
        **kw,
    )


def hs_settings(**kw: Any) -> JwtSettings:
    return JwtSettings(
        algorithms=kw.pop("algorithms", ("HS256",)),
        issuer=ISSUER,
        audience=AUDIENCE,
        secret=kw.pop("secret", SECRET),
        **kw,
    )


def assert_clean(message: str, token: str, secret: str | None = None) -> None:
    if len(token) >= 8:
        assert token not in message
    for segment in token.split("."):
        if len(segment) >= 8:
            assert segment not in message
    if secret:
        assert secret not in message


async def rejected(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(JwtRejected) as info:
        await verifier.verify(token)
    message = str(info.value)
    assert_clean(message, token, SECRET)
    # Chained exceptions end up in tracebacks in the log; there must be none to leak.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    return message


# ---------------------------------------------------------------------- attack matrix

ATTACKS: dict[str, Callable[[str], tuple[JwtSettings, str]]] = {
    "alg-none-unsigned": lambda url: (
        pk_settings(url),
        compact({"alg": "none", "typ": "JWT"}, claims(), None),
    ),
    "alg-none-against-hs": lambda url: (
        hs_settings(),
        compact({"alg": "none", "typ": "JWT"}, claims(), None),
    ),
    "alg-None-mixed-case": lambda url: (
        pk_settings(url),
        compact({"alg": "None", "kid": "rsa-1"}, claims(), None),
    ),
    "hs256-signed-with-rsa-public-pem": lambda url: (
        pk_settings(url),
        compact(
            {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"},
            claims(),
            hs256(
                RSA_KEY.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ),
        ),
    ),
    "rs256-against-hs-only": lambda url: (hs_settings(), rsa_token()),
    "hs512-against-hs256-only": lambda url: (
        hs_settings(),
        compact(
            {"alg": "HS512", "typ": "JWT"},
            claims(),
            lambda msg: hmac.new(SECRET.encode(), msg, hashlib.sha512).digest(),
        ),
    ),
    "hs256-wrong-secret": lambda url: (hs_settings(), hs_token(secret=SECRET + "x")),
    "wrong-audience": lambda url: (pk_settings(url), rsa_token(aud="someone-else")),
    "audience-list-without-ours": lambda url: (pk_settings(url), rsa_token(aud=["a", "b"])),
    "no-audience": lambda url: (pk_settings(url), rsa_token(aud=DROP)),
    "wrong-issuer": lambda url: (pk_settings(url), rsa_token(iss="https://evil.example.com/")),
    "no-issuer": lambda url: (pk_settings(url), rsa_token(iss=DROP)),
    "expired": lambda url: (pk_settings(url), rsa_token(exp=int(time.time()) - 3600)),
    "no-exp": lambda url: (pk_settings(url), rsa_token(exp=DROP)),
    "exp-as-string": lambda url: (pk_settings(url), rsa_token(exp=str(int(time.time()) + 600))),
    "exp-null": lambda url: (pk_settings(url), rsa_token(exp=None)),
    "nbf-in-future": lambda url: (pk_settings(url), rsa_token(nbf=int(time.time()) + 3600)),
    "iat-in-future": lambda url: (pk_settings(url), rsa_token(iat=int(time.time()) + 3600)),
    "signature-byte-flipped": lambda url: (pk_settings(url), flip(rsa_token(), 2, 10, 0x01)),
    "payload-tampered": lambda url: (
        pk_settings(url),
        ".".join(
            [
                rsa_token().split(".")[0],
                b64(json.dumps(claims(sub="admin")).encode()),
                rsa_token().split(".")[2],
            ]
        ),
    ),
    "signature-stripped": lambda url: (pk_settings(url), rsa_token().rsplit(".", 1)[0] + "."),
    "unknown-kid": lambda url: (pk_settings(url), rsa_token(kid="rsa-9")),
    "other-key-same-kid": lambda url: (pk_settings(url), rsa_token(key=ATTACKER_RSA)),
    "other-key-no-kid-embedded-jwk": lambda url: (
        pk_settings(url),
        jwt.encode(
            claims(),
            ATTACKER_RSA,
            algorithm="RS256",
            headers={"jwk": rsa_jwk(ATTACKER_RSA, None)},
        ),
    ),
    "rs384-when-only-rs256": lambda url: (pk_settings(url), rsa_token(alg="RS384")),
    "ps256-when-only-rs256": lambda url: (pk_settings(url), rsa_token(alg="PS256")),
    "es256-with-kid-of-rsa-key": lambda url: (
        pk_settings(url, "RS256", "ES256"),
        ec_token(kid="rsa-1"),
    ),
    "rs256-with-kid-of-ec-key": lambda url: (
        pk_settings(url, "RS256", "ES256"),
        rsa_token(kid="ec-1"),
    ),
    "es384-token-against-es256": lambda url: (
        pk_settings(url, "ES256"),
        ec_token(key=EC384_KEY, kid="ec-1"),
    ),
    "es256-header-on-p384-key": lambda url: (
        pk_settings(url, "ES256", "ES384"),
        compact({"alg": "ES256", "kid": "ec-384"}, claims(), es_raw(EC384_KEY, hashes.SHA256())),
    ),
    "user-claim-missing": lambda url: (pk_settings(url), rsa_token(sub=DROP)),
    "user-claim-empty": lambda url: (pk_settings(url), rsa_token(sub="")),
    "user-claim-not-string": lambda url: (
        pk_settings(url, user_claim="uid"),
        rsa_token(uid=12345),
    ),
    "groups-not-strings": lambda url: (pk_settings(url), rsa_token(groups=["a", 1])),
    "groups-object": lambda url: (pk_settings(url), rsa_token(groups={"a": 1})),
    "role-not-string": lambda url: (pk_settings(url), rsa_token(role=["admin"])),
    "crit-unknown-extension": lambda url: (
        pk_settings(url),
        compact({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}, claims(), rs256(RSA_KEY)),
    ),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_rejected(jwks: JwksServer, name: str) -> None:
    config, token = ATTACKS[name](jwks.url)

    async def scenario() -> None:
        verifier = JwtVerifier(config)
        await rejected(verifier, token)

    run(scenario())


MALFORMED = [
    "",
    "sk-1234567890abcdef",
    "abc",
    "a.b",
    "a.b.c",
    "a.b.c.d",
    "..",
    "...",
    "eyJ.eyJ.sig",
    b64(b"[]") + "." + b64(b"{}") + ".",
    b64(b'{"typ":"JWT"}') + "." + b64(b"{}") + ".",
    b64(b'{"alg":256}') + "." + b64(b"{}") + ".",
    b64(b'{"alg":"RS256"}') + ".!!!!." + b64(b"x"),
    b64(b'{"alg":"HS256"}') + "." + b64(b"not json") + "." + b64(b"x" * 32),
    b64(b'{"alg":"HS256"}') + "." + b64(b"[1,2]") + "." + b64(b"x" * 32),
    b64(b'{"alg":"HS256"}==') + "." + b64(b"{}") + "." + b64(b"x"),
    b64(b'{"alg":"HS256"}') + "." + b64(b"{}") + "." + "A" * 20_000,
    "é.é.é",
]


@pytest.mark.parametrize("token", MALFORMED)
def test_malformed_tokens_are_rejected(token: str) -> None:
    async def scenario() -> None:
        await rejected(JwtVerifier(hs_settings()), token)

    run(scenario())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_strings_only_ever_raise_jwt_rejected(token: str) -> None:
    async def scenario() -> None:
        await rejected(JwtVerifier(hs_settings()), token)

    run(scenario())


def _memory_jwks(document: dict[str, Any]) -> Callable[[str], Awaitable[bytes]]:
    body = json.dumps(document).encode()

    async def fetch(url: str) -> bytes:
        return body

    return fetch


_HS_TOKEN = hs_token()
_RS_TOKEN = rsa_token()
_ES_TOKEN = ec_token()


@settings(max_examples=120, deadline=None)
@given(
    which=st.sampled_from(["HS256", "RS256", "ES256"]),
    index=st.integers(min_value=0, max_value=511),
    mask=st.integers(min_value=1, max_value=255),
    segment=st.sampled_from([1, 2]),
)
def test_any_flipped_byte_is_rejected(which: str, index: int, mask: int, segment: int) -> None:
    token = {"HS256": _HS_TOKEN, "RS256": _RS_TOKEN, "ES256": _ES_TOKEN}[which]
    tampered = flip(token, segment, index, mask)
    config = hs_settings() if which == "HS256" else pk_settings("http://jwks.invalid/", which)
    fetch = _memory_jwks({"keys": [rsa_jwk(RSA_KEY, "rsa-1"), ec_jwk(EC_KEY, "ec-1")]})

    async def scenario() -> None:
        verifier = JwtVerifier(config, fetch)
        await verifier.verify(token)  # the untouched token is fine
        await rejected(verifier, tampered)

    run(scenario())


def test_short_hs_secret_rejects_tokens_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    short = "sixteen-bytes!!!"
    token = compact({"alg": "HS256", "typ": "JWT"}, claims(), hs256(short.encode()))

    async def scenario() -> str:
        with caplog.at_level(logging.ERROR, logger="pllm.auth.jwt"):
            verifier = JwtVerifier(hs_settings(secret=short))
        with pytest.raises(JwtRejected) as info:
            await verifier.verify(token)
        return str(info.value)

    message = run(scenario())
    assert short not in message
    assert "shorter than the 32" in caplog.text
    assert short not in caplog.text


def test_small_rsa_key_in_jwks_is_refused(jwks: JwksServer) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks.document = {"keys": [rsa_jwk(small, "small")]}
    token = compact({"alg": "RS256", "kid": "small"}, claims(), rs256(small))

    async def scenario() -> None:
        await rejected(JwtVerifier(pk_settings(jwks.url)), token)

    run(scenario())


def test_jwks_keys_not_for_signing_are_ignored(jwks: JwksServer) -> None:
    jwks.document = {
        "keys": [
            rsa_jwk(RSA_KEY, "enc-key", use="enc"),
            rsa_jwk(RSA_KEY_2, "wrap-only", key_ops=["wrapKey"]),
            rsa_jwk(ATTACKER_RSA, "other-alg", alg="RS512"),
        ]
    }

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url))
        await rejected(verifier, rsa_token(kid="enc-key"))
        await rejected(verifier, rsa_token(key=RSA_KEY_2, kid="wrap-only"))
        await rejected(verifier, rsa_token(key=ATTACKER_RSA, kid="other-alg"))

    run(scenario())


def test_a_broken_jwks_key_does_not_spoil_the_others(jwks: JwksServer) -> None:
    broken = {k: v for k, v in rsa_jwk(RSA_KEY_2, "broken").items() if k != "n"}
    jwks.document = {"keys": [broken, {"kty": "RSA"}, "junk", rsa_jwk(RSA_KEY, "rsa-1")]}

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url))
        await verifier.verify(rsa_token())
        await rejected(verifier, rsa_token(key=RSA_KEY_2, kid="broken"))

    run(scenario())


def test_private_key_published_in_jwks_is_not_used(jwks: JwksServer) -> None:
    private = RSAAlgorithm.to_jwk(RSA_KEY, as_dict=True)
    jwks.document = {"keys": [{**private, "kid": "rsa-1"}]}

    async def scenario() -> None:
        await rejected(JwtVerifier(pk_settings(jwks.url)), rsa_token())

    run(scenario())


# ---------------------------------------------------------------------- positives


def test_hs256_token_is_accepted() -> None:
    token = hs_token(groups=["eng"], role="member")

    async def scenario() -> JwtIdentity:
        return await JwtVerifier(hs_settings()).verify(token)

    identity = run(scenario())
    assert identity.user_id == "user-1"
    assert identity.groups == ("eng",)
    assert identity.role == "member"


@pytest.mark.parametrize(
    ("algorithms", "make"),
    [
        (("RS256",), lambda: rsa_token()),
        (("RS256", "ES256"), lambda: ec_token()),
        (("ES256",), lambda: ec_token()),
        (("PS256",), lambda: rsa_token(alg="PS256")),
        (("RS384", "RS256"), lambda: rsa_token(alg="RS384")),
        (("ES384",), lambda: ec_token(key=EC384_KEY, kid="ec-384")),
    ],
    ids=["rs256", "es256-mixed", "es256", "ps256", "rs384", "es384"],
)
def test_public_key_tokens_are_accepted(
    jwks: JwksServer, algorithms: tuple[str, ...], make: Callable[[], str]
) -> None:
    token = make()

    async def scenario() -> JwtIdentity:
        return await JwtVerifier(pk_settings(jwks.url, *algorithms)).verify(token)

    identity = run(scenario())
    assert identity.user_id == "user-1"
    assert identity.groups == ()
    assert identity.role is None


def test_claims_are_mapped_by_configured_names(jwks: JwksServer) -> None:
    config = pk_settings(jwks.url, user_claim="email", groups_claim="teams", role_claim="pllm_role")
    exp = int(time.time()) + 900
    as_list = rsa_token(
        email="ada@example.com", teams=["eng", "ml"], pllm_role="admin", exp=exp, role="x"
    )
    as_string = rsa_token(email="bob@example.com", teams="eng", groups=["ignored"])

    async def scenario() -> tuple[JwtIdentity, JwtIdentity]:
        verifier = JwtVerifier(config)
        return await verifier.verify(as_list), await verifier.verify(as_string)

    first, second = run(scenario())
    assert first == JwtIdentity(
        user_id="ada@example.com", groups=("eng", "ml"), role="admin", expires_at=float(exp)
    )
    assert second.user_id == "bob@example.com"
    assert second.groups == ("eng",)
    assert second.role is None


def test_audience_list_and_leeway_are_honoured(jwks: JwksServer) -> None:
    now = int(time.time())
    in_list = rsa_token(aud=["other", AUDIENCE])
    just_expired = rsa_token(exp=now - 10)
    slightly_early = rsa_token(nbf=now + 10, iat=now + 10)

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, leeway=30.0))
        await verifier.verify(in_list)
        await verifier.verify(just_expired)
        await verifier.verify(slightly_early)
        strict = JwtVerifier(pk_settings(jwks.url, leeway=0.0))
        await rejected(strict, just_expired)
        await rejected(strict, slightly_early)

    run(scenario())


def test_token_without_kid_needs_exactly_one_matching_key(jwks: JwksServer) -> None:
    token = rsa_token(kid=None)

    async def scenario() -> None:
        jwks.document = {"keys": [rsa_jwk(RSA_KEY, None), ec_jwk(EC_KEY, "ec-1")]}
        await JwtVerifier(pk_settings(jwks.url, "RS256", "ES256")).verify(token)
        jwks.document = {"keys": [rsa_jwk(RSA_KEY, "rsa-1"), rsa_jwk(RSA_KEY_2, "rsa-2")]}
        await rejected(JwtVerifier(pk_settings(jwks.url)), token)

    run(scenario())


# ---------------------------------------------------------------------- JWKS fetching


def test_jwks_is_fetched_once_for_many_verifications(jwks: JwksServer) -> None:
    tokens = [rsa_token(sub=f"user-{i}") for i in range(20)] + [ec_token(sub="ec-user")]

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, "RS256", "ES256"))
        for token in tokens:
            await verifier.verify(token)

    run(scenario())
    assert jwks.fetches == 1


def test_concurrent_first_requests_share_one_fetch(jwks: JwksServer) -> None:
    jwks.delay = 0.2
    tokens = [rsa_token(sub=f"user-{i}") for i in range(10)]

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url))
        await asyncio.gather(*(verifier.verify(t) for t in tokens))

    run(scenario())
    assert jwks.fetches == 1


def test_unknown_kid_refetches_once_then_rejects(jwks: JwksServer) -> None:
    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, jwks_refetch_interval=0.0))
        await verifier.verify(rsa_token())
        assert jwks.fetches == 1
        await rejected(verifier, rsa_token(kid="rsa-9"))
        assert jwks.fetches == 2

    run(scenario())


def test_unknown_kid_refetches_at_most_once_per_interval(jwks: JwksServer) -> None:
    interval = 1.0

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, jwks_refetch_interval=interval))
        await verifier.verify(rsa_token())
        # Right after a fetch: unknown kids are refused without asking again.
        for i in range(5):
            await rejected(verifier, rsa_token(kid=f"nope-{i}"))
        assert jwks.fetches == 1
        await asyncio.sleep(interval + 0.1)
        for i in range(5):
            await rejected(verifier, rsa_token(kid=f"nope-{i}"))
        assert jwks.fetches == 2
        await asyncio.sleep(interval + 0.1)
        await rejected(verifier, rsa_token(kid="nope-again"))
        assert jwks.fetches == 3

    run(scenario())


def test_rotated_key_is_picked_up_by_one_shared_refetch(jwks: JwksServer) -> None:
    rotated = [rsa_token(key=RSA_KEY_2, kid="rsa-2", sub=f"user-{i}") for i in range(10)]

    async def scenario() -> list[JwtIdentity]:
        verifier = JwtVerifier(pk_settings(jwks.url, jwks_refetch_interval=0.3))
        await verifier.verify(rsa_token())
        await asyncio.sleep(0.4)
        jwks.document = {"keys": [rsa_jwk(RSA_KEY_2, "rsa-2")]}
        jwks.delay = 0.2
        return await asyncio.gather(*(verifier.verify(t) for t in rotated))

    identities = run(scenario())
    assert [i.user_id for i in identities] == [f"user-{i}" for i in range(10)]
    assert jwks.fetches == 2


def test_jwks_is_refreshed_after_its_ttl(jwks: JwksServer) -> None:
    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, jwks_ttl=1.0, jwks_refetch_interval=0.0))
        await verifier.verify(rsa_token(sub="a"))
        await verifier.verify(rsa_token(sub="b"))
        assert jwks.fetches == 1
        await asyncio.sleep(1.1)
        # The old key is gone after the refresh.
        jwks.document = {"keys": [rsa_jwk(RSA_KEY_2, "rsa-2")]}
        await rejected(verifier, rsa_token(sub="c"))
        assert jwks.fetches >= 2
        await verifier.verify(rsa_token(key=RSA_KEY_2, kid="rsa-2"))

    run(scenario())


def test_stale_jwks_is_kept_while_the_server_is_down(jwks: JwksServer) -> None:
    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, jwks_ttl=0.2, jwks_refetch_interval=0.0))
        await verifier.verify(rsa_token(sub="a"))
        jwks.status = 503
        await asyncio.sleep(0.3)
        await verifier.verify(rsa_token(sub="b"))
        assert jwks.fetches == 2

    run(scenario())


@pytest.mark.parametrize("failure", ["refused", "http-500", "not-json", "no-keys-list"])
def test_jwks_unavailable_with_nothing_cached(jwks: JwksServer, failure: str) -> None:
    url = jwks.url
    if failure == "refused":
        url = closed_port_url()
    elif failure == "http-500":
        jwks.status = 500
    elif failure == "not-json":
        jwks.document = b"<html>"
    else:
        jwks.document = {"nope": []}
    token = rsa_token()

    async def scenario() -> str:
        with pytest.raises(JwksUnavailable) as info:
            await JwtVerifier(pk_settings(url)).verify(token)
        return str(info.value)

    message = run(scenario())
    assert_clean(message, token)


def test_jwks_recovery_is_retried_soon_when_nothing_is_cached(jwks: JwksServer) -> None:
    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, jwks_refetch_interval=0.0))
        jwks.status = 500
        with pytest.raises(JwksUnavailable):
            await verifier.verify(rsa_token())
        jwks.status = 200
        await verifier.verify(rsa_token())

    run(scenario())
    assert jwks.fetches == 2


def test_failed_fetches_are_rate_limited(jwks: JwksServer) -> None:
    jwks.status = 500

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, jwks_refetch_interval=60.0))
        for _ in range(5):
            with pytest.raises(JwksUnavailable):
                await verifier.verify(rsa_token())

    run(scenario())
    assert jwks.fetches == 1


def test_default_fetch_refuses_non_http_urls() -> None:
    async def scenario() -> str:
        with pytest.raises(JwksUnavailable) as info:
            await JwtVerifier(pk_settings("file:///etc/passwd")).verify(rsa_token())
        return str(info.value)

    assert "http" in run(scenario())


def test_a_waiter_giving_up_does_not_cancel_the_shared_fetch(jwks: JwksServer) -> None:
    jwks.delay = 0.3

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url))
        impatient = asyncio.ensure_future(verifier.verify(rsa_token(sub="a")))
        patient = asyncio.ensure_future(verifier.verify(rsa_token(sub="b")))
        await asyncio.sleep(0.05)
        impatient.cancel()
        assert (await patient).user_id == "b"

    run(scenario())
    assert jwks.fetches == 1


def test_custom_fetcher_gets_the_configured_url() -> None:
    seen: list[str] = []

    async def fetch(url: str) -> bytes:
        seen.append(url)
        return json.dumps({"keys": [rsa_jwk(RSA_KEY, "rsa-1")]}).encode()

    async def scenario() -> None:
        await JwtVerifier(pk_settings("https://idp.example.com/jwks"), fetch).verify(rsa_token())

    run(scenario())
    assert seen == ["https://idp.example.com/jwks"]


# ---------------------------------------------------------------------- verified-token cache


def test_verified_tokens_are_served_from_cache(
    jwks: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = rsa_token()

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url))
        calls = 0
        decode = verifier._jwt.decode

        def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return decode(*args, **kwargs)

        monkeypatch.setattr(verifier._jwt, "decode", counting)
        for _ in range(50):
            await verifier.verify(token)
        assert calls == 1

    run(scenario())


def test_cached_token_still_expires(jwks: JwksServer) -> None:
    exp = int(time.time()) + 2
    token = rsa_token(exp=exp)

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url, leeway=0.0))
        await verifier.verify(token)
        await asyncio.sleep(exp - time.time() + 0.1)
        await rejected(verifier, token)

    run(scenario())


def test_cache_is_bounded(jwks: JwksServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwt_module, "_MAX_VERIFIED", 3)
    tokens = [rsa_token(sub=f"user-{i}") for i in range(10)]

    async def scenario() -> None:
        verifier = JwtVerifier(pk_settings(jwks.url))
        for token in tokens:
            await verifier.verify(token)
            assert len(verifier._verified) <= 3
        assert (await verifier.verify(tokens[0])).user_id == "user-0"

    run(scenario())


# ---------------------------------------------------------------------- looks_like_jwt


def test_looks_like_jwt() -> None:
    assert JwtVerifier.looks_like_jwt(rsa_token())
    assert JwtVerifier.looks_like_jwt(hs_token())
    assert JwtVerifier.looks_like_jwt(compact({"alg": "none"}, claims(), None))
    for token in MALFORMED[:13]:
        assert not JwtVerifier.looks_like_jwt(token), token
    assert not JwtVerifier.looks_like_jwt("sk-" + "a" * 48)
    assert not JwtVerifier.looks_like_jwt(rsa_token() + "==")
