"""Budget periods: calendar days, ISO weeks and months in UTC, or all time.

Boundaries are computed on whole seconds with integer arithmetic, so that ``start <= now <
end`` holds exactly for any float ``now`` (float division near a boundary can round up).
"""

from __future__ import annotations

import math
from datetime import date

from pllm.principal import BudgetPeriod

DAY = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# 1970-01-01 was a Thursday: day 0 is 3 days after a Monday.
_EPOCH_WEEKDAY = 3


def _days(ts: float) -> int:
    return math.floor(ts) // DAY


def _month_start_day(days: int) -> int:
    d = date.fromordinal(_EPOCH_ORDINAL + days)
    return d.replace(day=1).toordinal() - _EPOCH_ORDINAL


def _next_month_start_day(days: int) -> int:
    d = date.fromordinal(_EPOCH_ORDINAL + days)
    first = date(d.year + 1, 1, 1) if d.month == 12 else date(d.year, d.month + 1, 1)
    return first.toordinal() - _EPOCH_ORDINAL


def period_start(period: BudgetPeriod, now: float) -> float:
    """UNIX seconds at which the period containing ``now`` began."""
    if period == "total":
        return 0.0
    days = _days(now)
    if period == "daily":
        return float(days * DAY)
    if period == "weekly":
        return float((days - (days + _EPOCH_WEEKDAY) % 7) * DAY)
    if period == "monthly":
        return float(_month_start_day(days) * DAY)
    raise ValueError(f"unknown budget period {period!r}")


def period_end(period: BudgetPeriod, now: float) -> float:
    """UNIX seconds at which the period containing ``now`` ends (the next one's start)."""
    if period == "total":
        return math.inf
    if period == "monthly":
        return float(_next_month_start_day(_days(now)) * DAY)
    length = DAY if period == "daily" else 7 * DAY
    return period_start(period, now) + length


def day_key(ts: float) -> str:
    """The UTC day of ``ts`` as "YYYY-MM-DD", the key of the daily spend counters."""
    return date.fromordinal(_EPOCH_ORDINAL + _days(ts)).isoformat()
