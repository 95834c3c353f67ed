"""Who a request is from, resolved once per request from its credential."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

Role = Literal["admin", "member", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "member", "viewer")
BudgetPeriod = Literal["daily", "weekly", "monthly", "total"]
BUDGET_PERIODS: tuple[BudgetPeriod, ...] = ("daily", "weekly", "monthly", "total")


@dataclass(frozen=True, slots=True)
class Budget:
    """A spend cap on one entity ("key:<id>", "user:<id>", "group:<id>"), in USD."""

    entity: str
    max_budget: float
    period: BudgetPeriod = "total"
    # Crossing this logs, counts and posts an alert; None: no alert.
    soft_budget: float | None = None


class RateLimit(NamedTuple):
    """Limits on one entity, enforced by the Rust limiter; None: unlimited. A plain tuple, so
    ``Principal.limits`` crosses into Rust as is."""

    entity: str
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["master", "key", "jwt", "open"]
    role: Role
    key_id: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    group_ids: tuple[str, ...] = ()
    # Model names this principal may call; None: any.
    allowed_models: frozenset[str] | None = None
    limits: tuple[RateLimit, ...] = ()
    budgets: tuple[Budget, ...] = ()
    # UNIX seconds after which the credential stops working; None: never.
    expires_at: float | None = None

    def may_use(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models


MASTER = Principal(kind="master", role="admin")
OPEN = Principal(kind="open", role="admin")
