"""OAuth2 access tokens for one set of credentials: fetched when first needed, cached, and
refreshed before they expire, with one refresh in flight at a time.

A token in its last minutes is still handed out while a refresh runs in the background, so
requests wait for the token endpoint only when there is no usable token at all (the first
request, or after the endpoint has failed for the whole of a token's life). Those waiters
share the one refresh. The token endpoint is called through a thread (``urllib``): a few calls
an hour do not need a client of their own on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable

import msgspec

from pllm.errors import GatewayError
from pllm.providers.vertex.credentials import Credentials, TokenRequest

log = logging.getLogger("pllm.providers.vertex")

# Refresh this long before the token expires; stop handing it out this long before.
REFRESH_MARGIN_S = 300.0
EXPIRY_MARGIN_S = 10.0
FETCH_TIMEOUT_S = 10.0
_MAX_REPLY_BYTES = 64 * 1024

Fetch = Callable[[TokenRequest], Awaitable[tuple[int, bytes]]]


class _TokenReply(msgspec.Struct):
    access_token: str | None = None
    expires_in: float = 3600.0
    error: str | None = None
    error_description: str | None = None


_decode_reply = msgspec.json.Decoder(_TokenReply).decode


def _post_blocking(request: TokenRequest) -> tuple[int, bytes]:
    # urlopen also speaks file:// and ftp://; a token endpoint is only ever HTTP.
    if urllib.parse.urlsplit(request.url).scheme not in ("http", "https"):
        raise ValueError("the token URI is not an http(s) URL")
    req = urllib.request.Request(  # noqa: S310 (scheme checked above)
        request.url, data=request.body, headers=dict(request.headers), method=request.method
    )
    try:
        with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
            return response.status, response.read(_MAX_REPLY_BYTES)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read(_MAX_REPLY_BYTES)


async def http_fetch(request: TokenRequest) -> tuple[int, bytes]:
    async with asyncio.timeout(FETCH_TIMEOUT_S + 1):
        return await asyncio.to_thread(_post_blocking, request)


def _valid_token(token: str) -> bool:
    # It goes into a header: visible ASCII only (RFC 6750's b64token and then some).
    return bool(token) and all(33 <= ord(c) < 127 for c in token)


class AccessTokens:
    """Awaited for the current access token of ``credentials``; raises a retryable
    :class:`GatewayError` when none can be had."""

    __slots__ = (
        "_clock",
        "_credentials",
        "_expires",
        "_failure",
        "_fetch",
        "_refreshing",
        "_token",
    )

    def __init__(
        self,
        credentials: Credentials,
        fetch: Fetch = http_fetch,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._fetch = fetch
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._failure = "no token was fetched yet"

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    async def __call__(self) -> str:
        now = self._clock()
        token = self._token
        if token is not None and now < self._expires - REFRESH_MARGIN_S:
            return token
        refreshing = self._refreshing
        if refreshing is None:
            refreshing = self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        if token is not None and now < self._expires - EXPIRY_MARGIN_S:
            return token  # still good: the refresh runs in the background
        # Shielded: one waiter giving up must not cancel the refresh the others share.
        await asyncio.shield(refreshing)
        if self._token is None or self._clock() >= self._expires - EXPIRY_MARGIN_S:
            raise GatewayError(
                502,
                f"Could not get a Google access token: {self._failure}",
                code="upstream_auth_failed",
                retryable=True,
            )
        return self._token

    async def _refresh(self) -> None:
        try:
            started = self._clock()
            request = self._credentials.token_request(started)
            status, body = await self._fetch(request)
            self._accept(status, body, started)
        except Exception as e:  # any failure: keep what we have, the next request retries
            self._failure = f"{type(e).__name__} from the token endpoint"
            log.warning("Google access token refresh failed: %s", self._failure)
        finally:
            self._refreshing = None

    def _accept(self, status: int, body: bytes, started: float) -> None:
        try:
            reply = _decode_reply(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            reply = _TokenReply()
        token = reply.access_token
        if status != 200 or token is None or not _valid_token(token):
            reason = reply.error or "no access_token"
            if reply.error_description:
                reason += f" ({reply.error_description[:200]})"
            self._failure = f"the token endpoint answered HTTP {status}: {reason}"
            log.warning("Google access token refresh failed: %s", self._failure)
            return
        self._token = token
        self._expires = started + reply.expires_in
