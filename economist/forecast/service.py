"""Forecasting spend: daily series from the cost engine (one currency, conversion included), Holt-Winters
per series with a prediction interval, and a holdout backtest against seasonal-naive reported with it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from economist.costs import repository as costs_repo
from economist.costs.params import CostQuery
from economist.costs.service import CostService
from economist.forecast.holt_winters import (
    Backtest,
    backtest,
    fit,
    seasonal_naive,
    seasonal_naive_interval,
)
from economist.ledger.tables import prepare_connection
from oco.db import Database

PERIOD = 7
#: the widest window history_end searches (query dates are bounded to these years)
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9000, 1, 1)
PLACES = Decimal("0.000001")
ZERO = Decimal(0)


def to_decimal(value: float) -> Decimal:
    """A model output as money (6 places)."""
    return Decimal(repr(value)).quantize(PLACES)


def at_least_zero(values: tuple[float, ...]) -> tuple[float, ...]:
    """Spend is never below zero: a point or bound under 0 is 0 (credits lower a day, not the forecast)."""
    return tuple(max(v, 0.0) for v in values)


def at_most_zero(values: tuple[float, ...]) -> tuple[float, ...]:
    """A series of credits (its history nets below zero) is never forecast above zero."""
    return tuple(min(v, 0.0) for v in values)


def forecast_series(values: list[Decimal], horizon: int, coverage: float) -> dict[str, Any]:
    """Forecast one daily series: method, parameters, backtest and points (cost, lower, upper).

    `values` should start at the series' first day with a cost (leading zeros are not history). A series
    whose history nets to zero or more is spend: no point or bound goes below zero, even when credits made
    some days negative; one that nets below zero (credits) never goes above zero. Holt-Winters
    is used when there are two full seasons AND it does not lose its holdout backtest to seasonal-naive;
    otherwise seasonal-naive is the forecast, and `method_reason` says why.
    """
    y = [float(v) for v in values]
    spend = sum(values, ZERO) >= 0
    result: dict[str, Any] = {"parameters": None, "backtest": None, "method_reason": None}
    checked: Backtest | None = backtest(y, PERIOD) if len(y) >= 2 * PERIOD else None
    if len(y) >= 2 * PERIOD and (checked is None or checked.model.mae <= checked.baseline.mae):
        model = fit(y, PERIOD)
        points, widths = model.forecast(horizon), model.interval(horizon, coverage)
        result["method"] = "holt_winters_additive"
        result["parameters"] = {"alpha": model.alpha, "beta": model.beta, "gamma": model.gamma}
        result["backtest"] = checked
    else:
        points = seasonal_naive(y, horizon, PERIOD)
        widths = seasonal_naive_interval(y, horizon, coverage, PERIOD)
        result["method"] = "seasonal_naive" if len(y) >= PERIOD else "mean"
        if checked is not None:
            result["backtest"] = checked
            result["method_reason"] = (
                f"holt_winters_additive lost the backtest (MAE {checked.model.mae:.6f} > seasonal_naive "
                f"{checked.baseline.mae:.6f}); seasonal_naive is used"
            )
        else:
            result["method_reason"] = (
                f"{len(y)} days of history: too short for Holt-Winters ({2 * PERIOD} needed)"
            )
    rows = []
    for point, width in zip(points, widths, strict=True):
        bounded = (point, point - width, point + width)
        rows.append(
            tuple(to_decimal(v) for v in (at_least_zero(bounded) if spend else at_most_zero(bounded)))
        )
    result["points"] = rows
    return result


class ForecastService:
    """Forecasts total spend, and per group when asked."""

    def __init__(self, database: Database, default_currency: str = "USD") -> None:
        self.database = database
        self.costs = CostService(database, default_currency)

    async def history_end(self, query: CostQuery) -> date | None:
        """The day after the last day with a cost matching the query's filters (MAX(day), any age)."""
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            last = await costs_repo.last_day(conn, replace(query, start=FIRST_DAY, end=LAST_DAY))
        return None if last is None else last + timedelta(days=1)

    async def forecast(
        self, history: CostQuery, horizon: int, coverage: float, max_groups: int
    ) -> dict[str, Any]:
        """Forecast `horizon` days after history.end from the daily costs in [history.start, history.end)."""
        result = await self.costs.query(replace(history, granularity="day", limit=None, offset=0))
        names = [d.name for d in history.group_by]
        days = [history.start + timedelta(days=i) for i in range((history.end - history.start).days)]
        index = {d: i for i, d in enumerate(days)}
        total = [ZERO] * len(days)
        groups: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO] * len(days))
        first: dict[tuple | None, int] = {}  # each series starts at its first day with a cost
        for row in result.rows:
            i = index[row["period"]]
            total[i] += row["cost"]
            first[None] = min(first.get(None, i), i)
            if names:
                key = tuple(row[n] for n in names)
                groups[key][i] += row["cost"]
                first[key] = min(first.get(key, i), i)
        future = [history.end + timedelta(days=h) for h in range(horizon)]
        overall = forecast_series(total[first.get(None, len(days)) :], horizon, coverage)
        ranked = sorted(groups.items(), key=lambda kv: -sum(kv[1], ZERO))[:max_groups]
        return {
            "currency": result.currency,
            "metric": result.metric,
            "horizon": horizon,
            "interval": coverage,
            "history_from": days[first[None]] if None in first else history.start,
            "history_to": history.end,
            "future": future,
            "total": overall,
            "groups": [
                {
                    "keys": dict(zip(names, key, strict=True)),
                    **forecast_series(values[first[key] :], horizon, coverage),
                }
                for key, values in ranked
            ],
        }
