"""Idle or orphaned resources: spend with no meaningful usage over the window; saving = their monthly run rate.

Per resource (ResourceId) over the window's Usage lines, with its kind from patterns.KINDS:
- `unattached_volume`: a block volume (label names volume/disk/EBS/provisioned storage) whose lines show no
  I/O activity: ConsumedQuantity summed over the lines whose text names I/O, requests, operations, IOPS or
  throughput is below OCO_ECONOMIST_RECOMMENDATIONS_IDLE_MAX_ACTIVITY (1). The ledger carries no attachment
  state, so a volume attached to an instance that does no billed I/O looks the same: confidence medium.
- `idle_ip`: a public/elastic/static IP address whose every charge in the window is for an idle address
  (SkuId/ChargeDescription says idle, not attached, unattached, unassociated or unused, e.g. AWS
  `PublicIPv4:IdleAddress`); one in-use address charge keeps it off the list. Confidence high.
- `idle_load_balancer`: a load balancer billed by the hour whose capacity units and data processed
  (LCU, "processed" lines' ConsumedQuantity) are below the activity threshold over the window.
- `idle_database`: a database with spend and no billed I/O or connections (same threshold); when cpu
  utilization was posted for it (POST /api/v1/utilization) its max must also be below
  OCO_ECONOMIST_RECOMMENDATIONS_IDLE_CPU_PERCENT (5) (confidence high), else confidence low (a database
  whose storage bills no I/O shows no usage in the ledger at all).
Saving = the resource's whole window cost x 730 / the hours it was billed in the window (first charge start
to last charge end, clipped to the window).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from economist.recommendations.rules.common import (
    Finding,
    RuleConfig,
    dec,
    located,
    money,
    monthly,
    number,
    observed_hours,
)

TYPES = ("unattached_volume", "idle_ip", "idle_load_balancer", "idle_database")


def idle_finding(
    row: dict[str, Any],
    utilization: dict[str, dict[str, Any]],
    config: RuleConfig,
    start: datetime,
    end: datetime,
) -> Finding | None:
    """The idle finding of one resource aggregate, or None."""
    kind = row.get("kind")
    cost = dec(row["cost"])
    if cost <= 0:
        return None
    activity = dec(row["activity_quantity"])
    hours = observed_hours(row["first_start"], row["last_end"], start, end)
    saving = monthly(cost, hours)
    evidence: dict[str, Any] = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "window_cost": money(cost),
        "billed_hours": number(hours),
        "monthly_run_rate": money(saving),
        "activity_quantity": number(activity),
        "activity_threshold": number(config.idle_max_activity),
        "resource_type": row.get("resource_type"),
    }
    name = row["resource_id"]
    if kind == "volume" and activity < config.idle_max_activity:
        finding = Finding(
            "unattached_volume", name, saving, row["currency"],
            f"Delete or snapshot-and-delete volume {name}: no I/O over {config.window_days} days",
            evidence, confidence="medium", effort="low", risk="medium",
        )  # fmt: skip
    elif kind == "ip" and dec(row["idle_cost"]) == cost:
        evidence["idle_address_cost"] = money(dec(row["idle_cost"]))
        finding = Finding(
            "idle_ip", name, saving, row["currency"],
            f"Release IP address {name}: billed only as an idle address",
            evidence, confidence="high", effort="low", risk="low",
        )  # fmt: skip
    elif kind == "load_balancer" and activity < config.idle_max_activity:
        finding = Finding(
            "idle_load_balancer", name, saving, row["currency"],
            f"Delete load balancer {name}: no traffic processed over {config.window_days} days",
            evidence, confidence="medium", effort="low", risk="low",
        )  # fmt: skip
    elif kind == "database" and activity < config.idle_max_activity:
        cpu = utilization.get("cpu")
        confidence = "low"
        if cpu is not None:
            peak = dec(cpu["max"] if cpu.get("max") is not None else cpu["p95"])
            if peak >= config.idle_cpu_percent:
                return None
            evidence["cpu_max_percent"] = number(peak)
            confidence = "high"
        finding = Finding(
            "idle_database", name, saving, row["currency"],
            f"Stop or delete database {name}: no I/O or connections over {config.window_days} days",
            evidence, confidence=confidence, effort="medium", risk="high",
        )  # fmt: skip
    else:
        return None
    return located(finding, row)
