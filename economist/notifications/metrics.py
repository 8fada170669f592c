"""Notification metrics: webhook deliveries that failed for good."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

NOTIFICATION_FAILURES = Counter(
    "oco_economist_notification_failures",
    "Webhook deliveries that failed for good (attempts exhausted, refused, or no secret)",
    ["event"],
)


def count_failure(delivery: dict[str, Any]) -> None:
    """The Notifier's on_failed hook."""
    NOTIFICATION_FAILURES.labels(event=str(delivery.get("event") or "")).inc()
