"""Pricing metrics: calls whose cost is unknown because their model has no price."""

from __future__ import annotations

from prometheus_client import Counter

UNPRICED_CALLS = Counter(
    "oco_cerebra_unpriced_requests_total",
    "Calls routed to a deployment whose model has no price (logged unpriced, cost unknown)",
    ["provider"],
)
