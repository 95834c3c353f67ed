"""The Gate: what a request takes before routing and gives back on every exit path."""

from __future__ import annotations

from typing import Any

import pytest

from pllm.budgets.ledger import BudgetLedger
from pllm.errors import GatewayError
from pllm.observability.metrics import Metrics
from pllm.pricing.table import Price
from pllm.principal import Budget, Principal, RateLimit
from pllm.tenancy.gate import Gate, Holds
from pllm.usage import Usage

# $1 per completion token: max_tokens=2 reserves $2.
PRICE = Price(input=0.0, output=1.0)


# A 40-byte request: a 10-token prompt estimate.
PROMPT = 10


def gate() -> Gate:
    return Gate(BudgetLedger(), {"m": [PRICE]}, Metrics())


def key(**kw: Any) -> Principal:
    return Principal(kind="key", role="member", key_id="k", **kw)


def test_model_not_allowed_is_403() -> None:
    g = gate()
    with pytest.raises(GatewayError) as e:
        g.admit(key(allowed_models=frozenset({"other"})), "m", PROMPT, None)
    assert (e.value.status, e.value.code) == (403, "model_not_allowed")


def test_rate_refusal_has_retry_after_and_holds_nothing() -> None:
    g = gate()
    p = key(limits=(RateLimit("key:k", 1, None, None),))
    first = g.admit(p, "m", PROMPT, None)
    with pytest.raises(GatewayError) as e:
        g.admit(p, "m", PROMPT, None)
    assert (e.value.status, e.value.code) == (429, "rate_limit_exceeded")
    assert dict(e.value.headers)["retry-after"] == "60"
    g.release(first, None, None)
    assert g.limiter.in_flight_total() == 0


def test_budget_refusal_gives_the_limiter_ticket_back() -> None:
    g = gate()
    p = key(
        limits=(RateLimit("key:k", None, None, 5),),
        budgets=(Budget("key:k", max_budget=1.0),),
    )
    first = g.admit(p, "m", PROMPT, 2)
    assert g.ledger.reserved("key:k") == 2.0
    with pytest.raises(GatewayError) as e:
        g.admit(p, "m", PROMPT, 2)
    assert (e.value.status, e.value.code) == (429, "budget_exceeded")
    assert g.limiter.in_flight_total() == 1  # only the first request's ticket
    usage = Usage(5, 1, 6)
    cost = PRICE.cost(usage.prompt_tokens, usage.completion_tokens, 0)
    g.release(first, usage, cost)
    g.release(first, usage, cost)  # idempotent
    assert g.limiter.in_flight_total() == 0
    assert g.ledger.reserved("key:k") == 0.0
    assert g.ledger.spent("key:k") == 1.0


def test_no_limits_no_budget_touches_nothing() -> None:
    g = gate()
    holds = g.admit(key(), "m", PROMPT, None)
    assert isinstance(holds, Holds)
    assert holds.ticket == 0 and holds.reservation is None
    g.release(holds, None, None)
