"""Virtual keys: how they are made, shown and stored.

A key is ``sk-`` + 43 base64url characters (256 random bits). Only its SHA-256 is stored: with
that much entropy a slow password hash buys nothing and would cost every cold lookup
milliseconds. The prefix and last four characters are kept so people can tell keys apart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

KEY_PREFIX = "sk-"


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: ``secret`` is shown once and never stored."""

    secret: str = ""
    key_hash: str = ""
    key_prefix: str = ""
    key_suffix: str = ""

    def stored(self) -> dict[str, Any]:
        """What the store keeps of the key: ``create_key``'s keywords for it."""
        return {
            "key_hash": self.key_hash,
            "key_prefix": self.key_prefix,
            "key_suffix": self.key_suffix,
        }

    def __repr__(self) -> str:  # never print the secret by accident
        return f"NewKey(key_prefix={self.key_prefix!r}, key_suffix={self.key_suffix!r})"


def hash_key(secret: str | bytes) -> str:
    data = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(data).hexdigest()


def generate_key() -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(
        secret=secret,
        key_hash=hash_key(secret),
        key_prefix=secret[: len(KEY_PREFIX) + 4],
        key_suffix=secret[-4:],
    )


def masked(key_prefix: str, key_suffix: str) -> str:
    """How a stored key is shown: ``sk-AbCd…wxyz``."""
    return f"{key_prefix}…{key_suffix}"
