"""Who a request is from, resolved once per request from its credential; and the limit and
budget fields every key, user and group carries, declared once here (:class:`Limits`).

The store's columns and rows, the admin API's bodies and views, the LiteLLM names and the
admin CLI's options are all built from :data:`LIMIT_FIELDS`, so the layers cannot disagree
on which limits there are, what they are called or how they are bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

Role = Literal["admin", "member", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "member", "viewer")
BudgetPeriod = Literal["daily", "weekly", "monthly", "total"]
BUDGET_PERIODS: tuple[BudgetPeriod, ...] = ("daily", "weekly", "monthly", "total")


# ---------------------------------------------------------------- the limit and budget fields

# What sort of value a limit is; each layer picks its type by this (store.tables for the
# column, admin.schemas and admin.litellm_schemas for the API, admin.cli for the option).
LimitKind = Literal["models", "count", "money", "period"]

# The admin API's bounds. A count must fit the store's 32-bit INTEGER columns.
ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
Money = Annotated[float, msgspec.Meta(ge=0)]
_BOUNDED: dict[LimitKind, Any] = {
    "models": list[ModelName],
    "count": PositiveInt,
    "money": Money,
    "period": BudgetPeriod,
}


@dataclass(frozen=True, slots=True)
class LimitField:
    """One field of :class:`Limits`: its names, its kind and what it means."""

    name: str  # pllm's name: the column, the row attribute, the admin API's field
    kind: LimitKind
    litellm: str  # LiteLLM's name for the same setting
    meaning: str  # for people: the admin CLI's --help

    @property
    def bounded(self) -> Any:
        """The type the admin API accepts, with its bounds (``msgspec.Meta``)."""
        return _BOUNDED[self.kind]


def _limit(kind: LimitKind, litellm: str, meaning: str) -> Any:
    """A field of Limits, its LimitField parts kept in the field's metadata."""
    return field(default=None, metadata={"limit": (kind, litellm, meaning)})


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The limits and budget of one key, user or group, as stored; None: no limit.

    The one declaration of these fields: rows inherit it, and :data:`LIMIT_FIELDS` (read
    from it) builds every other layer's version."""

    allowed_models: tuple[str, ...] | None = _limit(
        "models", "models", "allowed models (default: all)"
    )
    rpm: int | None = _limit("count", "rpm_limit", "requests per minute")
    tpm: int | None = _limit("count", "tpm_limit", "tokens per minute")
    max_parallel: int | None = _limit(
        "count", "max_parallel_requests", "requests in flight at once"
    )
    max_budget: float | None = _limit("money", "max_budget", "spend cap in USD")
    # Text as stored, not a BudgetPeriod: auth.resolve reads a value it does not know as
    # "total" rather than failing on the row.
    budget_period: str | None = _limit("period", "budget_duration", "when the budget resets")
    soft_budget: float | None = _limit("money", "soft_budget", "alert threshold in USD")


LIMIT_FIELDS: tuple[LimitField, ...] = tuple(
    LimitField(f.name, *f.metadata["limit"]) for f in fields(Limits)
)


# ---------------------------------------------------------------- what a request carries


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
