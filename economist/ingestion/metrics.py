"""Ingestion metrics: ingestions that finished, by source and status (a failure rolled everything back)."""

from __future__ import annotations

from prometheus_client import Counter

INGESTIONS = Counter(
    "oco_economist_ingestions_total",
    "Ingestions that finished in this process, by source and status (succeeded, failed)",
    ["source", "status"],
)
