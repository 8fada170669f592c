"""Response models of the forecast API (money as decimal strings with 6 places)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from economist.forecast.holt_winters import Backtest, Errors
from oco.money import money_str

PCT = Decimal("0.01")


class BacktestOut(BaseModel):
    """Forecast error over the last `holdout_days` of history, for Holt-Winters (`method`) and the
    seasonal-naive baseline; when Holt-Winters loses, the forecast itself is the baseline's."""

    holdout_days: int
    method: str = "holt_winters_additive"
    mae: str
    mape: str | None
    baseline: dict[str, Any]


class SeriesForecast(BaseModel):
    """One forecast series: group-by values (extra fields, for groups), method, backtest and points."""

    model_config = ConfigDict(extra="allow")

    method: str
    method_reason: str | None = None
    parameters: dict[str, float] | None
    backtest: BacktestOut | None
    total: str
    rows: list[dict[str, str]]


class ForecastResponse(BaseModel):
    """`rows`: the forecast of total spend per future day (`cost` with `lower`/`upper`); `groups` per group."""

    currency: str
    metric: str
    method: str
    method_reason: str | None = None  # why the method is not Holt-Winters
    seasonal_period: int
    horizon: int
    interval: float
    history_from: date
    history_to: date
    parameters: dict[str, float] | None
    backtest: BacktestOut | None
    total: str
    rows: list[dict[str, str]]
    groups: list[SeriesForecast]


def _num(value: float) -> str:
    return money_str(Decimal(repr(value))) or "0"


def _errors(e: Errors) -> dict[str, str | None]:
    return {"mae": _num(e.mae), "mape": None if e.mape is None else str(Decimal(repr(e.mape)).quantize(PCT))}


def backtest_out(checked: Backtest | None) -> BacktestOut | None:
    if checked is None:
        return None
    model = _errors(checked.model)
    return BacktestOut(
        holdout_days=checked.holdout,
        mae=model["mae"] or "0",
        mape=model["mape"],
        baseline={"method": "seasonal_naive", **_errors(checked.baseline)},
    )


def series_parts(series: dict[str, Any], future: list[date]) -> dict[str, Any]:
    rows = [
        {"period": day.isoformat(), "cost": str(cost), "lower": str(low), "upper": str(high)}
        for day, (cost, low, high) in zip(future, series["points"], strict=True)
    ]
    return {
        "method": series["method"],
        "method_reason": series["method_reason"],
        "parameters": series["parameters"],
        "backtest": backtest_out(series["backtest"]),
        "total": money_str(sum((p[0] for p in series["points"]), Decimal(0))) or "0",
        "rows": rows,
    }
