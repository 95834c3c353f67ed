"""The master key: with one configured, every API call must present it."""

from __future__ import annotations

import hmac

from pllm.errors import GatewayError


def presented_key(headers: dict[bytes, bytes]) -> bytes | None:
    """The key from ``Authorization: Bearer …`` or ``x-api-key``."""
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, token = auth.partition(b" ")
        token = token.strip()
        if scheme.lower() == b"bearer" and token:
            return token
    return headers.get(b"x-api-key") or None


class MasterKeyAuth:
    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def check(self, headers: dict[bytes, bytes]) -> None:
        given = presented_key(headers)
        if given is None:
            raise GatewayError(
                401,
                "You didn't provide an API key. Send it as 'Authorization: Bearer KEY' "
                "or 'x-api-key: KEY'.",
                code="missing_api_key",
            )
        # Constant time, so response timing does not reveal how much of a guess was right.
        if not hmac.compare_digest(given, self._key):
            raise GatewayError(401, "Incorrect API key provided.", code="invalid_api_key")
