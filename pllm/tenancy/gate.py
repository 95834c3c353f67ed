"""The gate a request passes before any provider sees it, and what it settles afterwards.

``admit`` checks the principal may use the model, takes a ticket from the Rust limiter (rpm,
tpm and parallel requests of its key, user and groups at once) and reserves the request's
maximum cost on its budgets. ``release`` runs on every exit path — success, error, client
abort, timeout — and gives back exactly what ``admit`` took.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import pllm_accel
from pllm.api.http import Request
from pllm.budgets.ledger import BudgetAlert, BudgetExceeded, BudgetLedger
from pllm.errors import GatewayError
from pllm.observability.metrics import Metrics
from pllm.pricing.table import Price
from pllm.usage import prompt_tokens_estimate, reply_cap

log = logging.getLogger("pllm.tenancy")

_LIMIT_NAMES = {"rpm": "requests per minute", "tpm": "tokens per minute"}


def _entity_kind(entity: str) -> str:
    return entity.partition(":")[0]


class Gate:
    def __init__(
        self,
        ledger: BudgetLedger,
        group_prices: Mapping[str, Sequence[Price]],
        metrics: Metrics,
    ) -> None:
        self.limiter = pllm_accel.Limiter()
        self.ledger = ledger
        self.metrics = metrics
        # Before routing we do not know which deployment will serve, so a reservation prices
        # the request at the group's most expensive one.
        self._group_prices = group_prices

    def admit(self, req: Request, model: str, tokens: int, payload: dict[str, Any]) -> None:
        principal = req.principal
        if not principal.may_use(model):
            raise GatewayError(
                403,
                f"This key is not allowed to use model {model!r}.",
                param="model",
                code="model_not_allowed",
                type="permission_error",
            )
        if principal.limits:
            got = self.limiter.acquire(principal.limits, tokens)
            if isinstance(got, tuple):
                self._refuse_rate(*got)
            req.rate_ticket = got
        if principal.budgets:
            max_cost = self.max_cost(model, req, payload)
            hold = self.ledger.reserve(principal.budgets, max_cost)
            if isinstance(hold, BudgetExceeded):
                self.release(req)
                self._refuse_budget(hold)
            req.budget_hold = hold

    def release(self, req: Request) -> None:
        """Idempotent: gives back the ticket and settles the reservation at the actual cost."""
        if req.rate_ticket:
            usage = req.usage
            self.limiter.release(req.rate_ticket, usage.total_tokens if usage is not None else 0)
            req.rate_ticket = 0
        hold = req.budget_hold
        if hold is not None:
            req.budget_hold = None
            self.ledger.settle(hold, req.settle_cost() or 0.0)

    def max_cost(self, model: str, req: Request, payload: dict[str, Any]) -> float:
        prompt, max_tokens = prompt_tokens_estimate(req.headers), reply_cap(payload)
        prices = self._group_prices.get(model, ())
        return max((p.max_cost(prompt, max_tokens) for p in prices), default=0.0)

    def _refuse_rate(self, entity: str, kind: str, retry_after: float) -> NoReturn:
        who = _entity_kind(entity)
        self.metrics.inc("pllm_rate_limited_total", (("scope", who), ("limit", kind)))
        if kind == "parallel":
            message = f"Too many requests in flight for this {who}: wait for one to finish."
        else:
            message = f"Rate limit reached for this {who}: {_LIMIT_NAMES.get(kind, kind)}."
        raise GatewayError(
            429,
            message,
            code="rate_limit_exceeded",
            type="rate_limit_error",
            headers=(("retry-after", str(max(1, math.ceil(retry_after)))),),
        )

    def _refuse_budget(self, refused: BudgetExceeded) -> NoReturn:
        who = _entity_kind(refused.entity)
        self.metrics.inc("pllm_budget_exceeded_total", (("scope", who),))
        raise GatewayError(
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
