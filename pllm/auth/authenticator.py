"""Who is calling: the master key, a virtual key, or a JWT, resolved to a :class:`Principal`.

Virtual keys are looked up by hash in the store once and then served from memory, so a request
with a known key costs one SHA-256 and a dict lookup. A key seen for the first time is loaded
once even when a burst of requests brings it (single flight). Workers poll the store's revision
counter and reload what they hold when an admin changes anything, so a revocation takes effect
within ``auth_refresh_interval``. While the store is down, keys already known keep working and
unknown ones get 503 (we cannot tell), never 401.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from pllm.auth.master_key import presented_key
from pllm.auth.resolve import jwt_principal, key_principal
from pllm.config import GeneralSettings
from pllm.errors import GatewayError
from pllm.principal import MASTER, OPEN, Principal
from pllm.store.urls import StoreUnavailable

if TYPE_CHECKING:
    # PyJWT and cryptography load only where JWTs are configured; the database layer loads
    # off the event loop when the worker opens the store (see tenancy.accounting).
    from pllm.auth.jwt import JwtVerifier
    from pllm.store.engine import Store

log = logging.getLogger("pllm.auth")

# How long an unknown key is remembered as unknown, and how many such keys at most.
_UNKNOWN_TTL = 10.0
_UNKNOWN_MAX = 10_000
_LOOKUP_CHUNK = 500

BudgetLoader = Callable[[Sequence[Principal]], Awaitable[None]]


def _repo() -> ModuleType:
    """The store's queries; only called once a store is attached, so already imported."""
    from pllm.store import principals

    return principals


def _missing() -> GatewayError:
    return GatewayError(
        401,
        "You didn't provide an API key. "
        "Send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'.",
        code="missing_api_key",
    )


def _invalid() -> GatewayError:
    return GatewayError(401, "Incorrect API key provided.", code="invalid_api_key")


def _unavailable() -> GatewayError:
    return GatewayError(
        503,
        "The gateway cannot check this key right now; retry shortly.",
        code="auth_unavailable",
        type="service_unavailable",
        retryable=True,
    )


class Authenticator:
    """``authenticate`` is the only call on the request path."""

    def __init__(
        self,
        general: GeneralSettings,
        *,
        jwt: JwtVerifier | None = None,
        load_budgets: BudgetLoader | None = None,
    ) -> None:
        self._master = general.master_key.encode() if general.master_key else None
        self._store: Store | None = None
        self._jwt = jwt
        self._load_budgets = load_budgets
        self.required = self._master is not None or jwt is not None
        self._refresh_interval = general.auth_refresh_interval
        # key hash -> the principal, or None for a key that exists but no longer works.
        self._keys: dict[str, Principal | None] = {}
        self._unknown: dict[str, float] = {}
        self._loading: dict[str, asyncio.Future[Principal | None]] = {}
        # (user id, claimed groups, claimed role, exp) -> principal, for JWT callers.
        self._jwt_principals: dict[tuple[str, tuple[str, ...], str | None, float], Principal] = {}
        self._revision: int | None = None
        self._poller: asyncio.Task[None] | None = None
        self._store_down = False

    # --- request path -------------------------------------------------------------------

    async def authenticate(self, headers: dict[bytes, bytes]) -> Principal:
        token = presented_key(headers)
        if not self.required:
            return OPEN
        if token is None:
            raise _missing()
        if self._master is not None and hmac.compare_digest(token, self._master):
            return MASTER
        if self._jwt is not None and token.count(b".") == 2 and token.startswith(b"eyJ"):
            return await self._from_jwt(token.decode("ascii", "replace"))
        key_hash = hashlib.sha256(token).hexdigest()
        if key_hash in self._keys:
            principal = self._keys[key_hash]
        else:
            principal = await self._load_key(key_hash)
        if principal is None:
            raise _invalid()
        if principal.expires_at is not None and principal.expires_at <= time.time():
            raise GatewayError(401, "This API key has expired.", code="expired_api_key")
        return principal

    async def _load_key(self, key_hash: str) -> Principal | None:
        seen = self._unknown.get(key_hash)
        if seen is not None and time.monotonic() - seen < _UNKNOWN_TTL:
            return None
        pending = self._loading.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._loading[key_hash] = future
        try:
            principal = await self._fetch_key(key_hash)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters get it, nobody else needs to
            raise
        else:
            future.set_result(principal)
            return principal
        finally:
            del self._loading[key_hash]

    async def _fetch_key(self, key_hash: str) -> Principal | None:
        if self._store is None:  # not connected yet: we cannot tell
            raise _unavailable()
        try:
            found = await _repo().auth_lookup(self._store, [key_hash])
        except StoreUnavailable:
            raise _unavailable() from None
        record = found.get(key_hash)
        if record is None:
            if len(self._unknown) >= _UNKNOWN_MAX:
                self._unknown.clear()
            self._unknown[key_hash] = time.monotonic()
            return None
        principal = key_principal(record.key, record.user, record.groups)
        if principal is not None and principal.budgets and self._load_budgets is not None:
            await self._load_budgets([principal])
        self._keys[key_hash] = principal
        return principal

    async def _from_jwt(self, token: str) -> Principal:
        from pllm.auth.jwt import JwksUnavailable, JwtRejected

        assert self._jwt is not None
        try:
            identity = await self._jwt.verify(token)
        except JwtRejected as e:
            log.info("JWT rejected", extra={"fields": {"reason": str(e)}})
            raise GatewayError(401, "Invalid JWT.", code="invalid_api_key") from None
        except JwksUnavailable:
            raise _unavailable() from None
        cache_key = (identity.user_id, identity.groups, identity.role, identity.expires_at)
        principal = self._jwt_principals.get(cache_key)
        if principal is not None:
            return principal
        if self._store is None:
            raise _unavailable()
        try:
            user, member_of = await _repo().user_lookup(self._store, identity.user_id)
            claimed = await _repo().groups_by_ids(self._store, identity.groups)
        except StoreUnavailable:
            raise _unavailable() from None
        groups = tuple({g.id: g for g in (*member_of, *claimed)}.values())
        principal = jwt_principal(
            identity.user_id, identity.groups, identity.role, identity.expires_at, user, groups
        )
        if principal.budgets and self._load_budgets is not None:
            await self._load_budgets([principal])
        if len(self._jwt_principals) >= _UNKNOWN_MAX:
            self._jwt_principals.clear()
        self._jwt_principals[cache_key] = principal
        return principal

    # --- keeping the cache true -----------------------------------------------------------

    def attach(self, store: Store | None) -> None:
        """The store, once the worker has opened it (at lifespan startup)."""
        self._store = store

    def start(self) -> None:
        if self.required and self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    async def _poll(self) -> None:
        while True:
            try:
                await self.refresh()
            except StoreUnavailable:
                if not self._store_down:
                    self._store_down = True
                    log.warning("store unavailable: serving known keys from memory")
            except Exception:
                log.exception("auth refresh failed")
            await asyncio.sleep(self._refresh_interval)

    async def refresh(self) -> bool:
        """Reload every cached key if the store changed since the last look; True if it did."""
        if self._store is None:
            return False
        current = await _repo().revision(self._store)
        if self._store_down:
            self._store_down = False
            log.info("store reachable again")
        if current == self._revision:
            return False
        hashes = list(self._keys)
        reloaded: dict[str, Principal | None] = {}
        for start in range(0, len(hashes), _LOOKUP_CHUNK):
            chunk = hashes[start : start + _LOOKUP_CHUNK]
            found = await _repo().auth_lookup(self._store, chunk)
            for key_hash in chunk:
                record = found.get(key_hash)
                reloaded[key_hash] = (
                    key_principal(record.key, record.user, record.groups) if record else None
                )
        with_budgets = [p for p in reloaded.values() if p is not None and p.budgets]
        if with_budgets and self._load_budgets is not None:
            await self._load_budgets(with_budgets)
        # Swapped in one step: requests never see a half-refreshed cache.
        self._keys.update(reloaded)
        self._unknown.clear()
        self._jwt_principals.clear()
        self._revision = current
        return True
