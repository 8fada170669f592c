"""Anomaly metrics: what the check after each ingestion found over its recent days, by severity."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Gauge

SEVERITIES = ("low", "medium", "high")

ANOMALIES = Gauge(
    "oco_economist_anomalies",
    "Cost anomalies in the last OCO_ECONOMIST_ANOMALY_NOTIFY_DAYS days (series service x account), by "
    "severity, as found by the check after the latest ingestion",
    ["severity"],
    multiprocess_mode="mostrecent",
)


def publish(anomalies: Iterable[dict[str, Any]]) -> None:
    """Set every severity's count (0 included) from one check's findings."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for anomaly in anomalies:
        counts[anomaly["severity"]] = counts.get(anomaly["severity"], 0) + 1
    for severity, count in counts.items():
        ANOMALIES.labels(severity).set(count)
