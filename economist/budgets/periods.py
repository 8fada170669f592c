"""Budget periods: the calendar month or quarter (UTC days) that contains a day, end exclusive."""

from __future__ import annotations

from datetime import date
from typing import Literal

Period = Literal["monthly", "quarterly"]
PERIODS: tuple[str, ...] = ("monthly", "quarterly")


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """[start, end) of the `period` ("monthly" or "quarterly") holding `day`."""
    if period == "monthly":
        start = day.replace(day=1)
        return start, _add_months(start, 1)
    if period == "quarterly":
        start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return start, _add_months(start, 3)
    raise ValueError(f"unknown budget period {period!r}")
