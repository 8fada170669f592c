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
from economist.forecast.holt_winters import Backtest, backtest, fit, seasonal_naive
from economist.ledger.tables import prepare_connection
from oco.db import Database

PERIOD = 7
PLACES = Decimal("0.000001")
ZERO = Decimal(0)


def to_decimal(value: float) -> Decimal:
    """A model output as money (6 places)."""
    return Decimal(repr(value)).quantize(PLACES)


def forecast_series(values: list[Decimal], horizon: int, coverage: float) -> dict[str, Any]:
    """Forecast one daily series: method, parameters, backtest and points (cost, lower, upper)."""
    y = [float(v) for v in values]
    nonnegative = all(v >= 0 for v in values)
    result: dict[str, Any] = {"parameters": None, "backtest": None}
    if len(y) >= 2 * PERIOD:
        model = fit(y, PERIOD)
        points, widths = model.forecast(horizon), model.interval(horizon, coverage)
        result["method"] = "holt_winters_additive"
        result["parameters"] = {"alpha": model.alpha, "beta": model.beta, "gamma": model.gamma}
        checked: Backtest | None = backtest(y, PERIOD)
        result["backtest"] = checked
    else:
        points = seasonal_naive(y, horizon, PERIOD)
        widths = [0.0] * horizon
        result["method"] = "seasonal_naive" if len(y) >= PERIOD else "mean"
    rows = []
    for point, width in zip(points, widths, strict=True):
        low, high = point - width, point + width
        if nonnegative:
            point, low, high = max(point, 0.0), max(low, 0.0), max(high, 0.0)
        rows.append((to_decimal(point), to_decimal(low), to_decimal(high)))
    result["points"] = rows
    return result


class ForecastService:
    """Forecasts total spend, and per group when asked."""

    def __init__(self, database: Database, default_currency: str = "USD") -> None:
        self.database = database
        self.costs = CostService(database, default_currency)

    async def history_end(self, query: CostQuery) -> date | None:
        """The day after the last day with a cost (searching the year before query.end)."""
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            last = await costs_repo.last_day(conn, replace(query, start=query.end - timedelta(days=366)))
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
        for row in result.rows:
            i = index[row["period"]]
            total[i] += row["cost"]
            if names:
                groups[tuple(row[n] for n in names)][i] += row["cost"]
        future = [history.end + timedelta(days=h) for h in range(horizon)]
        overall = forecast_series(total, horizon, coverage)
        ranked = sorted(groups.items(), key=lambda kv: -sum(kv[1], ZERO))[:max_groups]
        return {
            "currency": result.currency,
            "metric": result.metric,
            "horizon": horizon,
            "interval": coverage,
            "history_from": history.start,
            "history_to": history.end,
            "future": future,
            "total": overall,
            "groups": [
                {"keys": dict(zip(names, key, strict=True)), **forecast_series(values, horizon, coverage)}
                for key, values in ranked
            ],
        }
