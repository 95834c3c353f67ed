"""Turns stored rows (a key, its user, their groups) into the :class:`Principal` a request
carries: effective allowed models, the limits and the budgets it is subject to."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pllm.principal import (
    BUDGET_PERIODS,
    ROLES,
    Budget,
    BudgetPeriod,
    Principal,
    RateLimit,
    Role,
)


class LimitedRow(Protocol):
    """What keys, users and groups have in common (see ``pllm.store.tables``)."""

    @property
    def id(self) -> str: ...
    @property
    def allowed_models(self) -> Any: ...
    @property
    def rpm(self) -> int | None: ...
    @property
    def tpm(self) -> int | None: ...
    @property
    def max_parallel(self) -> int | None: ...
    @property
    def max_budget(self) -> float | None: ...
    @property
    def budget_period(self) -> str | None: ...
    @property
    def soft_budget(self) -> float | None: ...


class KeyLike(LimitedRow, Protocol):
    @property
    def alias(self) -> str | None: ...
    @property
    def role(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def expires_at(self) -> float | None: ...
    @property
    def revoked_at(self) -> float | None: ...


def _role(value: str | None, default: Role = "member") -> Role:
    for role in ROLES:
        if value == role:
            return role
    return default


def _period(value: str | None) -> BudgetPeriod:
    for period in BUDGET_PERIODS:
        if value == period:
            return period
    return "total"


def _allowed(rows: Iterable[LimitedRow | None]) -> frozenset[str] | None:
    """The intersection of every list that is set: a key can narrow what its user and groups
    may call, never widen it."""
    allowed: frozenset[str] | None = None
    for row in rows:
        if row is None or row.allowed_models is None:
            continue
        models = frozenset(str(m) for m in row.allowed_models)
        allowed = models if allowed is None else allowed & models
    return allowed


def _limits_and_budgets(
    entities: Sequence[tuple[str, LimitedRow]],
) -> tuple[tuple[RateLimit, ...], tuple[Budget, ...]]:
    limits: list[RateLimit] = []
    budgets: list[Budget] = []
    for entity, row in entities:
        if row.rpm is not None or row.tpm is not None or row.max_parallel is not None:
            limits.append(RateLimit(entity, row.rpm, row.tpm, row.max_parallel))
        if row.max_budget is not None:
            budgets.append(
                Budget(entity, float(row.max_budget), _period(row.budget_period), row.soft_budget)
            )
    return tuple(limits), tuple(budgets)


def key_principal(
    key: KeyLike, user: LimitedRow | None, groups: Sequence[LimitedRow], now: float | None = None
) -> Principal | None:
    """None for a key that no longer works (revoked or expired)."""
    now = time.time() if now is None else now
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    entities: list[tuple[str, LimitedRow]] = [(f"key:{key.id}", key)]
    if user is not None:
        entities.append((f"user:{user.id}", user))
    entities.extend((f"group:{g.id}", g) for g in groups)
    limits, budgets = _limits_and_budgets(entities)
    return Principal(
        kind="key",
        role=_role(key.role),
        key_id=key.id,
        key_alias=key.alias,
        user_id=key.user_id,
        group_ids=tuple(g.id for g in groups),
        allowed_models=_allowed([key, user, *groups]),
        limits=limits,
        budgets=budgets,
        expires_at=key.expires_at,
    )


def jwt_principal(
    user_id: str,
    claimed_groups: Sequence[str],
    claimed_role: str | None,
    expires_at: float,
    user: LimitedRow | None,
    groups: Sequence[LimitedRow],
) -> Principal:
    """A JWT names its user and groups; rows for them, where they exist, add limits and
    budgets. Groups only the token names (unknown to the store) still count as membership."""
    entities: list[tuple[str, LimitedRow]] = []
    if user is not None:
        entities.append((f"user:{user.id}", user))
    entities.extend((f"group:{g.id}", g) for g in groups)
    limits, budgets = _limits_and_budgets(entities)
    return Principal(
        kind="jwt",
        role=_role(claimed_role),
        user_id=user_id,
        group_ids=tuple(dict.fromkeys(claimed_groups)),
        allowed_models=_allowed([user, *groups]),
        limits=limits,
        budgets=budgets,
        expires_at=expires_at,
    )
