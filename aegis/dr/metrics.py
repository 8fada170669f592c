"""Prometheus metrics of DR plans (module-level, served by the kernel's /metrics): the achieved RPO, the
newest drill's RTO, both targets, and the compliance status (0 ok, 1 at_risk, 2 breached) per plan, and runs finished."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

RPO_SECONDS = Gauge(
    "oco_aegis_rpo_seconds", "Achieved RPO of a DR plan: seconds since its newest covering backup", ["plan"]
)
RTO_SECONDS = Gauge("oco_aegis_rto_seconds", "Achieved RTO of a DR plan's newest finished drill", ["plan"])
PLAN_STATUS = Gauge(
    "oco_aegis_plan_status", "RPO compliance of a DR plan: 0 ok, 1 at_risk, 2 breached", ["plan"]
)
RPO_TARGET_SECONDS = Gauge("oco_aegis_rpo_target_seconds", "A DR plan's RPO target (rpo_minutes)", ["plan"])
RTO_TARGET_SECONDS = Gauge("oco_aegis_rto_target_seconds", "A DR plan's RTO target (rto_minutes)", ["plan"])
DR_RUNS = Counter("aegis_dr_runs_total", "DR runs finished, by kind and phase", ["kind", "phase"])


def forget(plan: str) -> None:
    """Drop a deleted plan's series."""
    for gauge in (RPO_SECONDS, RTO_SECONDS, PLAN_STATUS, RPO_TARGET_SECONDS, RTO_TARGET_SECONDS):
        with contextlib.suppress(KeyError):
            gauge.remove(plan)
