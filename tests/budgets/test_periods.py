from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pllm.budgets.periods import day_key, period_end, period_start
from pllm.principal import BudgetPeriod

CALENDAR: tuple[BudgetPeriod, ...] = ("daily", "weekly", "monthly")
# 1970 to 2200, as floats with fractions and as whole seconds (boundaries are whole).
instants = st.floats(min_value=0, max_value=7.3e9, allow_nan=False) | st.integers(
    0, 7_300_000_000
).map(float)


def utc(ts: float) -> datetime:
    # fromtimestamp rounds to microseconds, which can carry a float into the next day.
    return datetime.fromtimestamp(math.floor(ts), UTC)


def ts(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: float = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp() + s


@given(st.sampled_from(CALENDAR), instants)
def test_now_lies_in_its_period(period: BudgetPeriod, now: float) -> None:
    start, end = period_start(period, now), period_end(period, now)
    assert start <= now < end
    assert period_start(period, start) == start
    assert period_end(period, start) == end
    # The end is the next period's start.
    assert period_start(period, end) == end
    assert period_start(period, math.nextafter(end, 0)) == start


@given(instants)
def test_boundaries_are_utc_calendar_ones(now: float) -> None:
    d = utc(now)
    assert utc(period_start("daily", now)) == d.replace(hour=0, minute=0, second=0)
    week = utc(period_start("weekly", now))
    assert week.weekday() == 0 and (week.hour, week.minute, week.second) == (0, 0, 0)
    assert 0 <= (d - week).days < 7
    month = utc(period_start("monthly", now))
    assert month == d.replace(day=1, hour=0, minute=0, second=0)
    assert day_key(now) == d.strftime("%Y-%m-%d")


@given(instants)
def test_total_never_resets(now: float) -> None:
    assert period_start("total", now) == 0.0
    assert period_end("total", now) == math.inf


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("daily", ts(2025, 3, 9, 23, 59, 59.999), ts(2025, 3, 9), ts(2025, 3, 10)),
        ("daily", ts(2025, 3, 10), ts(2025, 3, 10), ts(2025, 3, 11)),
        # 2025-03-09 is a Sunday: its week began on Monday the 3rd.
        ("weekly", ts(2025, 3, 9, 12), ts(2025, 3, 3), ts(2025, 3, 10)),
        ("weekly", ts(2025, 3, 10), ts(2025, 3, 10), ts(2025, 3, 17)),
        ("monthly", ts(2024, 2, 29, 18), ts(2024, 2, 1), ts(2024, 3, 1)),
        ("monthly", ts(2024, 12, 31, 23, 59), ts(2024, 12, 1), ts(2025, 1, 1)),
    ],
)
def test_known_periods(period: BudgetPeriod, now: float, start: float, end: float) -> None:
    assert (period_start(period, now), period_end(period, now)) == (start, end)


def test_day_key() -> None:
    assert day_key(0.0) == "1970-01-01"
    assert day_key(ts(2025, 1, 1) - 1e-6) == "2024-12-31"
    assert day_key(ts(2025, 1, 1)) == "2025-01-01"
