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
_DURATION = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d|w)\s*$")


def parse_duration(text: str, *, param: str = "duration") -> float:
    """Seconds in ``"30s"``, ``"15m"``, ``"12h"``, ``"30d"``, ``"2w"`` (and ``"1mo"``)."""
    match = _DURATION.match(text)
    if match is None:
        raise bad_request(
            f"Invalid duration {text!r}: use a number and a unit, e.g. 30s, 15m, 12h, 30d, 2w.",
            param=param,
            code="invalid_field",
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


# LiteLLM's budget_duration is a free duration that resets the spend; pllm budgets run over
# calendar periods, so only durations that mean one of them are accepted.
_LITELLM_PERIODS: dict[str, BudgetPeriod] = {
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
    period = _LITELLM_PERIODS.get(value.strip().lower())
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
