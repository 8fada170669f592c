"""Prometheus metrics of recommendations: open ones and their monthly saving by type (set from the database
after every refresh and status change), and what refreshes changed."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from prometheus_client import Counter, Gauge

OPEN = Gauge("oco_economist_recommendations_open", "Open savings recommendations", ["type"])
SAVINGS = Gauge(
    "oco_economist_recommendations_monthly_savings",
    "Estimated monthly saving of the open recommendations, in their ledger currency",
    ["type", "currency"],
)
REFRESHED = Counter(
    "oco_economist_recommendations_refreshed_total",
    "Recommendations a refresh created, updated, reopened or closed",
    ["change"],
)


def publish_open(totals: Iterable[dict[str, Any]]) -> None:
    """Replace the gauges with the open totals (rows of type, currency, count, saving)."""
    OPEN.clear()
    SAVINGS.clear()
    counts: dict[str, int] = {}
    for row in totals:
        counts[row["type"]] = counts.get(row["type"], 0) + int(row["count"])
        SAVINGS.labels(row["type"], row["currency"]).set(float(Decimal(row["saving"] or 0)))
    for kind, count in counts.items():
        OPEN.labels(kind).set(count)


def count_refresh(changes: dict[str, int]) -> None:
    for change, value in changes.items():
        if value:
            REFRESHED.labels(change).inc(value)
