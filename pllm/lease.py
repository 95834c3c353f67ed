"""A shared limit's answer when this process's lease of it is short and a refill is on its way.

Limits and budgets shared by workers or instances are held as leases: each process admits
from the part it was granted and asks for more in the background. A request that finds its
process's part empty while more is being asked for is neither admitted nor refused: the
limiter answers a :class:`LeaseShort`, the caller waits for the refill (one round trip, at
most ``patience`` seconds) and asks once more; then what it gets is final. Without this, a
burst's first requests (or the first request of a key on a process) would be refused while
the store still had room, or admitted on credit past the limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Refusal = TypeVar("Refusal")

# How long a request waits for its lease's refill before the refusal stands.
PATIENCE = 0.5


@dataclass(frozen=True, slots=True)
class LeaseShort(Generic[Refusal]):
    """Wait for ``refilled`` and ask again; ``refusal`` is the answer if that does not help."""

    refilled: Callable[[float], Awaitable[None]]
    refusal: Refusal

    async def wait(self, patience: float = PATIENCE) -> None:
        await self.refilled(patience)
