"""Budgets: worst-case cost reserved before a request, actual cost settled after it."""

from pllm.budgets.ledger import BudgetAlert, BudgetExceeded, BudgetLedger, Reservation
from pllm.budgets.periods import day_key, period_end, period_start

__all__ = [
    "BudgetAlert",
    "BudgetExceeded",
    "BudgetLedger",
    "Reservation",
    "day_key",
    "period_end",
    "period_start",
]
