"""The gate a request passes before any provider sees it, and what it settles afterwards.

``admit`` checks the principal may use the model, takes a ticket from the Rust limiter (rpm,
tpm and parallel requests of its key, user and groups at once) and reserves the request's
maximum cost on its budgets, and returns what it took as :class:`Holds`. ``release`` runs on
every exit path — success, error, client abort, timeout — and gives back exactly that.
With ``PLLM_SHARED_DIR`` set (the worker processes of ``pllm serve --workers N``), the limiter
keeps its state in a file there that every worker maps, so a key's limits hold across workers.
With a Redis shared by several instances the state passes in :mod:`pllm.cluster`'s limiter,
which has the same interface and holds limits across instances, and the ledger reserves from
the instance's lease of each budget (:mod:`pllm.cluster.budgets`): neither waits on Redis, so
``admit`` stays synchronous.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import pllm_accel
from pllm.budgets.ledger import BudgetAlert, BudgetExceeded, BudgetLedger, Reservation
from pllm.errors import GatewayError
from pllm.lease import LeaseShort
from pllm.observability.metrics import Metrics
from pllm.pricing.table import Price
from pllm.principal import Principal
from pllm.usage import Usage

log = logging.getLogger("pllm.tenancy")

_LIMIT_NAMES = {"rpm": "requests per minute", "tpm": "tokens per minute"}


def _entity_kind(entity: str) -> str:
    return entity.partition(":")[0]


class Limiter(Protocol):
    """:class:`pllm_accel.Limiter`'s interface, which the cluster's limiter has too."""

    def acquire(
        self,
        entities: Sequence[tuple[str, int | None, int | None, int | None]],
        tokens: int,
        now: float | None = None,
    ) -> int | pllm_accel.Refusal | LeaseShort[pllm_accel.Refusal]: ...

    def release(self, ticket: int, tokens_used: int = 0, now: float | None = None) -> bool: ...

    def in_flight(self, entity: str) -> int: ...

    def in_flight_total(self) -> int: ...

    def tracked(self) -> int: ...


class Holds:
    """What one admitted request holds until it ends: a limiter ticket, a budget reservation."""

    __slots__ = ("reservation", "ticket")

    def __init__(self) -> None:
        self.ticket = 0
        self.reservation: Reservation | None = None


class LeasePending(Exception):
    """This process's lease of a shared limit or budget is short and a refill is on its way
    (:mod:`pllm.lease`): the caller awaits :meth:`wait` and admits once more (a second
    refusal is final)."""

    def __init__(
        self, refilled: Callable[[float], Awaitable[None]], refusal: Callable[[], GatewayError]
    ) -> None:
        super().__init__("budget lease refill pending")
        self._refilled = refilled
        self.refusal = refusal  # the 429 to answer if the refill does not make room

    async def wait(self, patience: float = 0.5) -> None:
        await self._refilled(patience)


class Gate:
    def __init__(
        self,
        ledger: BudgetLedger,
        group_prices: Mapping[str, Sequence[Price]],
        metrics: Metrics,
        limiter: Limiter | None = None,
    ) -> None:
        shared_dir = os.environ.get("PLLM_SHARED_DIR")
        self.limiter: Limiter = (
            limiter
            if limiter is not None
            else pllm_accel.Limiter(
                shared=os.path.join(shared_dir, "limits"),
                worker=int(os.environ.get("PLLM_WORKER_INDEX", "0")),
            )
            if shared_dir
            else pllm_accel.Limiter()
        )
        self.ledger = ledger
        self.metrics = metrics
        # Before routing we do not know which deployment will serve, so a reservation prices
        # the request at the group's most expensive one.
        self._group_prices = group_prices

    def reprice(self, group_prices: Mapping[str, Sequence[Price]]) -> None:
        """A reloaded config's prices, for reservations from now on (those already taken
        settle as they were made)."""
        self._group_prices = group_prices

    def admit(
        self, principal: Principal, model: str, prompt_tokens: int, max_tokens: int | None
    ) -> Holds:
        """Refuses with 403/429, or takes a limiter ticket for ``prompt_tokens`` plus the
        reply's cap and reserves the request's maximum cost."""
        if not principal.may_use(model):
            raise GatewayError(
                403,
                f"This key is not allowed to use model {model!r}.",
                param="model",
                code="model_not_allowed",
                type="permission_error",
            )
        holds = Holds()
        if principal.limits:
            got = self.limiter.acquire(principal.limits, prompt_tokens + (max_tokens or 0))
            if isinstance(got, LeaseShort):
                short = got
                raise LeasePending(short.refilled, lambda: self._rate_error(short.refusal))
            if isinstance(got, pllm_accel.Refusal):
                raise self._rate_error(got)
            holds.ticket = got
        if principal.budgets:
            max_cost = self.max_cost(model, prompt_tokens, max_tokens)
            hold = self.ledger.reserve(principal.budgets, max_cost)
            if isinstance(hold, BudgetExceeded):
                self.release(holds, None, None)
                if hold.leasing and self.ledger.cluster is not None:
                    raise LeasePending(
                        self.ledger.cluster.refilled, lambda: self._budget_error(hold)
                    )
                raise self._budget_error(hold)
            holds.reservation = hold
        return holds

    def release(self, holds: Holds, usage: Usage | None, cost: float | None) -> None:
        """Idempotent: gives back the ticket (tpm settled with the real usage) and settles
        the reservation at the actual cost."""
        if holds.ticket:
            self.limiter.release(holds.ticket, usage.total_tokens if usage is not None else 0)
            holds.ticket = 0
        hold = holds.reservation
        if hold is not None:
            holds.reservation = None
            self.ledger.settle(hold, cost or 0.0)

    def max_cost(self, model: str, prompt_tokens: int, max_tokens: int | None) -> float:
        prices = self._group_prices.get(model, ())
        return max((p.max_cost(prompt_tokens, max_tokens) for p in prices), default=0.0)

    def _rate_error(self, refused: pllm_accel.Refusal) -> GatewayError:
        who, kind = _entity_kind(refused.entity), refused.kind
        self.metrics.inc("pllm_rate_limited_total", (("scope", who), ("limit", kind)))
        if kind == "parallel":
            message = f"Too many requests in flight for this {who}: wait for one to finish."
        else:
            message = f"Rate limit reached for this {who}: {_LIMIT_NAMES.get(kind, kind)}."
        return GatewayError(
            429,
            message,
            code="rate_limit_exceeded",
            type="rate_limit_error",
            headers=(("retry-after", str(max(1, math.ceil(refused.retry_after)))),),
        )

    def _budget_error(self, refused: BudgetExceeded) -> GatewayError:
        who = _entity_kind(refused.entity)
        self.metrics.inc("pllm_budget_exceeded_total", (("scope", who),))
        return GatewayError(
            429,
            f"Budget exceeded for this {who}: spent ${refused.spent:.4f} of "
            f"${refused.max_budget:.4f} ({refused.period}).",
            code="budget_exceeded",
            type="budget_exceeded",
        )


def log_alert(alert: BudgetAlert, metrics: Metrics) -> None:
    metrics.inc(
        "pllm_budget_alerts_total", (("scope", _entity_kind(alert.entity)), ("kind", alert.kind))
    )
    log.warning(
        "budget alert",
        extra={
            "fields": {
                "entity": alert.entity,
                "kind": alert.kind,
                "spent": round(alert.spent, 6),
                "soft_budget": alert.soft_budget,
                "max_budget": alert.max_budget,
                "period": alert.period,
            }
        },
    )
