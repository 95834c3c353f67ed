"""Who may use the admin API: the master key, an admin virtual key, or a JWT with the admin
role. Everything else is 401 (no or unknown credential) or 403 (a valid one without admin).

Keys are looked up in the store on every call rather than cached: admin calls are rare, and a
revoked admin key must stop working at once on the API that could undo the revocation.
"""

from __future__ import annotations

import hmac
import logging
import time

from pllm.admin.routing import Caller
from pllm.auth.jwt import JwksUnavailable, JwtRejected, JwtVerifier
from pllm.auth.keys import hash_key
from pllm.auth.master_key import presented_key
from pllm.config.schema import GeneralSettings
from pllm.errors import GatewayError
from pllm.store.engine import Store
from pllm.store.principals import get_key_by_hash

log = logging.getLogger("pllm.admin")


def _unauthorized(message: str, code: str) -> GatewayError:
    return GatewayError(
        401, message, code=code, headers=(("www-authenticate", 'Bearer realm="pllm-admin"'),)
    )


def forbidden(what: str) -> GatewayError:
    return GatewayError(
        403,
        f"{what} does not have the admin role, which the admin API requires.",
        code="forbidden",
    )


class Guard:
    def __init__(self, general: GeneralSettings) -> None:
        self._master = general.master_key.encode() if general.master_key else None
        self._jwt = JwtVerifier(general.jwt) if general.jwt is not None else None

    async def check(self, headers: dict[bytes, bytes], store: Store) -> Caller:
        if self._master is None:
            # Without a master key the gateway itself is open; opening the API that hands
            # out keys as well would leave nothing protected.
            raise _unauthorized(
                "The admin API is disabled: set general_settings.master_key in the config "
                "to use it.",
                "admin_disabled",
            )
        given = presented_key(headers)
        if given is None:
            raise _unauthorized(
                "You didn't provide an API key. Send the master key or an admin key as "
                "'Authorization: Bearer KEY' or 'x-api-key: KEY'.",
                "missing_api_key",
            )
        # Constant time, so timing does not reveal how much of a guess was right.
        if hmac.compare_digest(given, self._master):
            return Caller("master")
        try:
            token = given.decode("ascii")
        except UnicodeDecodeError:
            raise _unauthorized("Incorrect API key provided.", "invalid_api_key") from None
        if self._jwt is not None and JwtVerifier.looks_like_jwt(token):
            return await self._check_jwt(token)
        return await self._check_key(token, store)

    async def _check_jwt(self, token: str) -> Caller:
        assert self._jwt is not None
        try:
            identity = await self._jwt.verify(token)
        except JwtRejected as e:
            log.info("admin API: JWT rejected", extra={"fields": {"reason": str(e)}})
            raise _unauthorized("Invalid JWT.", "invalid_api_key") from None
        except JwksUnavailable as e:
            log.warning("admin API: JWKS unavailable", extra={"fields": {"reason": str(e)}})
            raise GatewayError(
                503,
                "The admin API cannot check this JWT right now; retry shortly.",
                code="auth_unavailable",
                type="service_unavailable",
            ) from None
        if identity.role != "admin":
            raise forbidden("This token")
        return Caller("jwt", identity.user_id)

    async def _check_key(self, token: str, store: Store) -> Caller:
        row = await get_key_by_hash(store, hash_key(token))
        now = time.time()
        if (
            row is None
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)
        ):
            raise _unauthorized("Incorrect API key provided.", "invalid_api_key")
        if row.role != "admin":
            raise forbidden("This key")
        return Caller("key", row.id)
