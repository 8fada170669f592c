"""Governance metrics: open violations per policy."""

from __future__ import annotations

import contextlib

from prometheus_client import Gauge


class _OpenViolations:
    """`oco_economist_violations_open{policy}`: violations in status open, per policy name."""

    def __init__(self) -> None:
        self.gauge = Gauge(
            "oco_economist_violations_open", "Open governance violations by policy", ["policy"]
        )

    def labels(self, *, policy: str) -> Gauge:
        return self.gauge.labels(policy=policy)

    def remove_policy(self, name: str) -> None:
        with contextlib.suppress(KeyError):
            self.gauge.remove(name)


VIOLATIONS_OPEN = _OpenViolations()
