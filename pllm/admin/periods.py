"""Durations ("30d") and budget periods (calendar UTC days, ISO weeks, months)."""

from __future__ import annotations

import datetime
import re

from pllm.errors import bad_request
from pllm.principal import BudgetPeriod

_UNIT_SECONDS = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    # LiteLLM's "1mo": a month as 30 days, which is what a key's lifetime needs to be.
    "mo": 30 * 86400,
}
# "30s", "15m", "12h", "30d", "2w", "1mo", spaces allowed around the parts. The digits are
# capped per unit so that every duration it admits, added to now, is a date Python and the
# store can hold (at most ~820 years: 9999 months); the admin API's schema carries this same
# pattern, so a duration the document admits is never refused.
# (?!\n): Python's $ also matches before a final newline, JSON Schema's does not.
DURATION_PATTERN = (
    r"^ *(?:[0-9]{1,10} *s|[0-9]{1,8} *m|[0-9]{1,6} *h|[0-9]{1,5} *d|[0-9]{1,4} *w"
    r"|[0-9]{1,4} *mo) *$(?!\n)"
)
_DURATION = re.compile(DURATION_PATTERN)
_PARTS = re.compile(r" *([0-9]+) *(mo|s|m|h|d|w) *")


def parse_duration(text: str, *, param: str = "duration") -> float:
    """Seconds in ``"30s"``, ``"15m"``, ``"12h"``, ``"30d"``, ``"2w"`` (and ``"1mo"``)."""
    parts = _PARTS.fullmatch(text) if _DURATION.match(text) else None
    if parts is None:
        raise bad_request(
            f"Invalid duration {text!r}: use a number and a unit, e.g. 30s, 15m, 12h, 30d, 2w.",
            param=param,
            code="invalid_field",
        )
    return int(parts.group(1)) * _UNIT_SECONDS[parts.group(2)]


# LiteLLM's budget_duration is a free duration that resets the spend; pllm budgets run over
# calendar periods, so only the durations that mean one of them are accepted (the admin
# API's schema lists them: LiteLLMBudgetDuration).
LITELLM_PERIODS: dict[str, BudgetPeriod] = {
    "1d": "daily",
    "24h": "daily",
    "7d": "weekly",
    "1w": "weekly",
    "30d": "monthly",
    "1mo": "monthly",
}


def budget_period_from_litellm(
    value: str | None, *, param: str = "budget_duration"
) -> BudgetPeriod | None:
    if value is None:
        return None
    period = LITELLM_PERIODS.get(value)
    if period is None:
        raise bad_request(
            f"Unsupported {param} {value!r}: pllm budgets are calendar periods in UTC; "
            "use 1d or 24h (daily), 7d or 1w (weekly, from Monday), 30d or 1mo (monthly, "
            "from the 1st), or leave it out for a budget that never resets.",
            param=param,
            code="invalid_field",
        )
    return period


def litellm_budget_duration(period: str | None) -> str | None:
    """How a stored period reads back in LiteLLM's terms."""
    return {"daily": "1d", "weekly": "7d", "monthly": "30d"}.get(period or "")


def today_utc(now: float | None = None) -> datetime.date:
    if now is None:
        return datetime.datetime.now(datetime.UTC).date()
    return datetime.datetime.fromtimestamp(now, datetime.UTC).date()


def period_start(period: str | None, today: datetime.date) -> datetime.date | None:
    """First day of the budget period that contains ``today``; None for "total"."""
    if period == "daily":
        return today
    if period == "weekly":
        return today - datetime.timedelta(days=today.weekday())  # Monday
    if period == "monthly":
        return today.replace(day=1)
    return None


def day_start_ts(day: datetime.date) -> float:
    """UNIX seconds at 00:00 UTC of ``day``."""
    return datetime.datetime.combine(day, datetime.time(), datetime.UTC).timestamp()
