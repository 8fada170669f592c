"""Prometheus metrics of budgets: utilisation of the current period and thresholds crossed."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

BUDGET_UTILIZATION = Gauge(
    "oco_economist_budget_utilization_ratio",
    "Spend of the current period to date over the budget's amount (1 = fully used)",
    ["budget"],
)
BUDGET_FORECAST_UTILIZATION = Gauge(
    "oco_economist_budget_forecast_utilization_ratio",
    "Forecast spend at the end of the current period over the budget's amount",
    ["budget"],
)
THRESHOLDS_CROSSED = Counter(
    "oco_economist_budget_thresholds_crossed_total",
    "Budget thresholds crossed for the first time in a period (each alerts once)",
    ["budget", "on"],
)
EVALUATION_ERRORS = Counter(
    "oco_economist_budget_evaluation_errors_total",
    "Budget evaluations that failed (e.g. a missing exchange rate); the budget is retried next time",
)


def forget(budget: str) -> None:
    """Drop a deleted (or renamed) budget's gauges."""
    for gauge in (BUDGET_UTILIZATION, BUDGET_FORECAST_UTILIZATION):
        with contextlib.suppress(KeyError):
            gauge.remove(budget)
