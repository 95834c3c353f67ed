"""The cache key: a hash of the model group, the endpoint, every request field that changes
the answer, and the cache scope.

Fields that only change how the answer is delivered or recorded (``stream``,
``stream_options``, ``user``, ``metadata``, the per-request ``cache`` control, timeouts) are
left out, so a stream and a plain request share an entry. The rest is encoded as JSON with
keys sorted at every depth, and integral floats at the top level (``temperature: 1.0``) are
written as integers, so equal requests hash equally whatever their key order or number style.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import msgspec

# Request fields that do not change the answer.
IGNORED_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "litellm_metadata",
        "cache",
        "timeout",
        "request_timeout",
        "num_retries",
    }
)

_encode = msgspec.json.Encoder(order="sorted").encode


def canonical(payload: dict[str, Any]) -> bytes:
    """The request's answer-changing fields as canonical JSON."""
    kept: dict[str, Any] = {}
    for name, value in payload.items():
        if name in IGNORED_FIELDS or value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        kept[name] = value
    return _encode(kept)


def cache_key(endpoint: str, model: str, scope: str, payload: dict[str, Any]) -> str:
    """The hex SHA-256 that names an answer (``x-litellm-cache-key``)."""
    h = hashlib.sha256()
    for part in (endpoint, model, scope):
        h.update(part.encode())
        h.update(b"\0")
    h.update(canonical(payload))
    return h.hexdigest()


@functools.lru_cache(maxsize=4096)
def model_tag(model: str) -> str:
    """A model group's short, separator-free tag in storage keys (``ns:tag:key``), so that
    one group's entries can be found without knowing their keys."""
    return hashlib.sha256(model.encode()).hexdigest()[:16]
