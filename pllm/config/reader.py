"""Typed reads from one YAML mapping, recording a problem (never the value) on a bad type."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from pllm.config.problems import Problems


class Reader:
    """Typed reads from one mapping, recording a problem (never the value) on a bad type."""

    def __init__(self, data: Mapping[str, Any], path: str, problems: Problems) -> None:
        self.data, self.path, self.problems = data, path, problems

    def _bad(self, key: str, what: str) -> None:
        self.problems.add(f"{self.path}.{key}", f"must be {what}")

    def string(self, key: str, *, required: bool = False, secret: bool = False) -> str | None:
        v = self.data.get(key)
        if v is None:
            if required:
                self.problems.add(f"{self.path}.{key}", "is required")
            return None
        if isinstance(v, datetime.date) and not secret:
            # YAML reads an unquoted 2024-10-21 (an api_version) as a date.
            return v.isoformat()
        if (
            isinstance(v, bool)
            or not isinstance(v, str | int | float)
            or (secret and not isinstance(v, str))
        ):
            self._bad(key, "a string")
            return None
        return str(v)

    def integer(
        self, key: str, *, default: int | None = None, minimum: int | None = None
    ) -> int | None:
        v = self.data.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            self._bad(key, "an integer")
            return default
        if minimum is not None and v < minimum:
            self._bad(key, f"at least {minimum}")
            return default
        return v

    def number(self, key: str, *, default: float, minimum: float | None = None) -> float:
        v = self.data.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float):
            self._bad(key, "a number")
            return default
        if minimum is not None and v < minimum:
            self._bad(key, f"at least {minimum}")
            return default
        return float(v)

    def boolean(self, key: str, *, default: bool) -> bool:
        v = self.data.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            self._bad(key, "true or false")
            return default
        return v
