"""Rightsizing from posted utilization (`rightsize`): a compute resource whose p95 use would fit a smaller
size of its family at the target utilization.

The current size is the one posted with the utilization (`size`), else the first size of the shipped table
(data/sizes.csv) named in the resource's SkuId or ChargeDescription (e.g. "... m5.xlarge Instance Hour").
Needed vCPU = current vCPU x cpu p95 / 100 / OCO_ECONOMIST_RECOMMENDATIONS_TARGET_UTILIZATION (0.6); needed
memory likewise from memory p95 when posted (confidence high), else memory is assumed to scale with the cpu
need (current memory x needed vCPU / current vCPU; confidence medium). The target is the cheapest size of
the same provider and family with at least the needed vCPU and memory; none cheaper than the current size
means no recommendation. Saving = current monthly cost (the resource's window cost x 730 / billed hours)
x (1 - target hourly price / current hourly price).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from economist.recommendations.catalog import SizeTable
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

TYPES = ("rightsize",)
HUNDRED = Decimal(100)


def rightsize_finding(
    row: dict[str, Any],
    utilization: dict[str, dict[str, Any]],
    sizes: SizeTable,
    config: RuleConfig,
    start: datetime,
    end: datetime,
) -> Finding | None:
    """The rightsizing finding of a resource with posted utilization, or None."""
    cpu, memory = utilization.get("cpu"), utilization.get("memory")
    if cpu is None and memory is None:
        return None
    posted = next((u["size"] for u in (cpu, memory) if u and u.get("size")), None)
    current = sizes.get(posted) if posted else sizes.find_in(row.get("sku_id"), row.get("charge_description"))
    cost = dec(row["cost"])
    if current is None or cost <= 0:
        return None
    target_use = config.target_utilization
    need_cpu = current.vcpu * dec(cpu["p95"]) / HUNDRED / target_use if cpu else current.vcpu
    if memory:
        need_memory = current.memory_gib * dec(memory["p95"]) / HUNDRED / target_use
    else:
        need_memory = current.memory_gib * need_cpu / current.vcpu
    fitting = [s for s in sizes.family(current) if s.vcpu >= need_cpu and s.memory_gib >= need_memory]
    if not fitting or fitting[0].hourly_price >= current.hourly_price:
        return None
    target = fitting[0]
    hours = observed_hours(row["first_start"], row["last_end"], start, end)
    current_monthly = monthly(cost, hours)
    saving = current_monthly * (1 - target.hourly_price / current.hourly_price)
    evidence: dict[str, Any] = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "window_cost": money(cost),
        "billed_hours": number(hours),
        "current_monthly_cost": money(current_monthly),
        "current_size": current.name,
        "current_vcpu": number(current.vcpu),
        "current_memory_gib": number(current.memory_gib),
        "current_hourly_price": number(current.hourly_price),
        "target_size": target.name,
        "target_vcpu": number(target.vcpu),
        "target_memory_gib": number(target.memory_gib),
        "target_hourly_price": number(target.hourly_price),
        "target_utilization": number(target_use),
        "needed_vcpu": number(need_cpu),
        "needed_memory_gib": number(need_memory),
        "size_from": "posted" if posted else "ledger",
    }
    for metric, use in (("cpu", cpu), ("memory", memory)):
        if use:
            evidence[f"{metric}_p95_percent"] = number(dec(use["p95"]))
    finding = Finding(
        "rightsize", row["resource_id"], saving, row["currency"],
        f"Resize {row['resource_id']} from {current.name} to {target.name}",
        evidence, confidence="high" if memory else "medium", effort="medium", risk="medium",
    )  # fmt: skip
    return located(finding, row)
