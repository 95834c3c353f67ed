"""Collects every problem in a config file so that one run reports them all.

A problem is an error (the config is refused) or a warning (the config serves, without what
the warning names: a deployment whose credentials are not set, a provider pllm does not have).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class Problems:
    file: str
    # The errors; ``bool(problems)`` says whether there is any.
    items: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def add(self, path: str, reason: str) -> None:
        self.items.append(Problem(self.file, path, reason))

    def warn(self, path: str, reason: str) -> None:
        self.warnings.append(Problem(self.file, path, reason))

    def __bool__(self) -> bool:
        return bool(self.items)


class ConfigError(Exception):
    """Raised with every error found (``str()`` lists them one per line), and the warnings
    found on the way, for a report that shows both."""

    def __init__(self, problems: Iterable[Problem], warnings: Iterable[Problem] = ()) -> None:
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


def suggestion(name: str, known: Iterable[str]) -> str | None:
    """The known key ``name`` is most likely a typo of, if any is close enough."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return close[0] if close else None
