"""Reading the credential a request presents."""

from __future__ import annotations


def presented_key(headers: dict[bytes, bytes]) -> bytes | None:
    """The key from ``Authorization: Bearer …`` or ``x-api-key``."""
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, token = auth.partition(b" ")
        token = token.strip()
        if scheme.lower() == b"bearer" and token:
            return token
    return headers.get(b"x-api-key") or None
