"""Turns stored rows (a key, its user, their groups) into the :class:`Principal` a request
carries: effective allowed models, the limits and the budgets it is subject to."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from pllm.principal import (
    BUDGET_PERIODS,
    ROLES,
    Budget,
    BudgetPeriod,
    Limits,
    Principal,
    RateLimit,
    Role,
)

if TYPE_CHECKING:
    # Types only: the gateway loads the database layer off the event loop, when it opens
    # the store (see tenancy.accounting).
    from pllm.store.rows import EntityRow, GroupRow, KeyRow, UserRow


_Choice = TypeVar("_Choice", Role, BudgetPeriod)


def _one_of(value: str | None, choices: tuple[_Choice, ...], default: _Choice) -> _Choice:
    """``value`` as one of ``choices``; ``default`` for anything else (a stored or claimed
    value pllm does not know)."""
    for choice in choices:
        if value == choice:
            return choice
    return default


def _allowed(rows: Iterable[Limits]) -> frozenset[str] | None:
    """The intersection of every list that is set: a key can narrow what its user and groups
    may call, never widen it."""
    allowed: frozenset[str] | None = None
    for row in rows:
        if row.allowed_models is None:
            continue
        models = frozenset(str(m) for m in row.allowed_models)
        allowed = models if allowed is None else allowed & models
    return allowed


def _limits_and_budgets(
    entities: Sequence[tuple[str, Limits]],
) -> tuple[tuple[RateLimit, ...], tuple[Budget, ...]]:
    limits: list[RateLimit] = []
    budgets: list[Budget] = []
    for entity, row in entities:
        if row.rpm is not None or row.tpm is not None or row.max_parallel is not None:
            limits.append(RateLimit(entity, row.rpm, row.tpm, row.max_parallel))
        if row.max_budget is not None:
            budgets.append(
                Budget(
                    entity,
                    float(row.max_budget),
                    _one_of(row.budget_period, BUDGET_PERIODS, "total"),
                    row.soft_budget,
                )
            )
    return tuple(limits), tuple(budgets)


def _restrictions(
    key: KeyRow | None, user: UserRow | None, groups: Sequence[GroupRow]
) -> tuple[frozenset[str] | None, tuple[RateLimit, ...], tuple[Budget, ...]]:
    """What the rows a credential resolved to impose: the models allowed, and the limits and
    budgets, each on its entity ("key:<id>", "user:<id>", "group:<id>")."""
    rows: list[tuple[str, EntityRow | None]] = [("key", key), ("user", user)]
    rows.extend(("group", g) for g in groups)
    entities = [(f"{kind}:{row.id}", row) for kind, row in rows if row is not None]
    limits, budgets = _limits_and_budgets(entities)
    return _allowed(row for _, row in entities), limits, budgets


def key_principal(
    key: KeyRow, user: UserRow | None, groups: Sequence[GroupRow], now: float | None = None
) -> Principal | None:
    """None for a key that no longer works (revoked or expired)."""
    now = time.time() if now is None else now
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    allowed, limits, budgets = _restrictions(key, user, groups)
    return Principal(
        kind="key",
        role=_one_of(key.role, ROLES, "member"),
        key_id=key.id,
        key_alias=key.alias,
        user_id=key.user_id,
        group_ids=tuple(g.id for g in groups),
        allowed_models=allowed,
        limits=limits,
        budgets=budgets,
        expires_at=key.expires_at,
    )


def jwt_principal(
    user_id: str,
    claimed_groups: Sequence[str],
    claimed_role: str | None,
    expires_at: float,
    user: UserRow | None,
    groups: Sequence[GroupRow],
) -> Principal:
    """A JWT names its user and groups; rows for them, where they exist, add limits and
    budgets. Groups only the token names (unknown to the store) still count as membership."""
    allowed, limits, budgets = _restrictions(None, user, groups)
    return Principal(
        kind="jwt",
        role=_one_of(claimed_role, ROLES, "member"),
        user_id=user_id,
        group_ids=tuple(dict.fromkeys(claimed_groups)),
        allowed_models=allowed,
        limits=limits,
        budgets=budgets,
        expires_at=expires_at,
    )
