"""Which config a process serves: named by a hash of the file, so every worker and instance
that loaded the same file reports the same revision."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Revision:
    """A hash of the config file's bytes, and when it was loaded."""

    hash: str
    loaded_at: float  # seconds since the epoch


def revision_of(path: str) -> str:
    """The first 12 hex digits of the SHA-256 of the file ('' when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    except OSError:
        return ""
