"""Response models of the cost API (money as decimal strings with 6 places)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oco.money import money_str

PERCENT = Decimal("0.01")

Row = dict[str, str | None]


def money(value: Decimal) -> str:
    with localcontext(prec=80):  # converted sums can exceed the default 28 digits once quantized
        return money_str(value) or "0.000000"


def percent(value: Decimal | None) -> str | None:
    if value is None:
        return None
    with localcontext(prec=80):
        return str(value.quantize(PERCENT))


def cost_row(row: dict[str, Any], with_period: bool) -> Row:
    """A result row as JSON: `period` (with a granularity), one field per group-by key, `cost`, and
    `share` for a breakdown row."""
    out: Row = {}
    for name, value in row.items():
        if name == "period":
            if with_period:
                out["period"] = value.isoformat()
        elif name == "cost":
            out["cost"] = money(value)
        elif name == "share":
            out["share"] = None if value is None else str(value)
        elif name != "currency":
            out[name] = value
    return out


class CostsResponse(BaseModel):
    """`rows` hold `period` (only with a granularity), a field per group-by key, and `cost`."""

    currency: str
    metric: str
    total: str
    rows: list[Row]
    limit: int | None
    offset: int
    total_rows: int


class BreakdownResponse(BaseModel):
    """Costs by one dimension, largest first; `share` is the row's fraction of the total."""

    currency: str
    metric: str
    dimension: str
    total: str
    rows: list[Row]
    limit: int | None
    offset: int
    total_rows: int


class SummaryResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    currency: str
    metric: str
    from_: date = Field(alias="from")
    to: date
    total: str
    previous_from: date
    previous_to: date
    previous_total: str
    change: str
    change_percent: str | None
    by_provider: list[Row]
    top_services: list[Row]


class TrendResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    currency: str
    metric: str
    from_: date = Field(alias="from")
    to: date
    total: str
    average_daily: str
    slope_per_day: str
    previous_total: str
    change: str
    change_percent: str | None
    rows: list[Row]
