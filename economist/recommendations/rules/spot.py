"""Spot / preemptible candidates (`spot_candidate`): steady on-demand compute in a non-production environment.

A resource of kind compute whose normalized `environment` (else `env`, else `stage`) tag is one of
OCO_ECONOMIST_RECOMMENDATIONS_NONPROD_VALUES (dev, development, test, testing, qa, staging, sandbox), with
on-demand spend (no CommitmentDiscountId; PricingCategory Standard/On-Demand/empty), billed across at least
OCO_ECONOMIST_RECOMMENDATIONS_SPOT_MIN_COVERAGE (0.8) of the window (steady-ish: it runs most of the time).
Saving = the monthly run rate of its on-demand cost x the discount table's spot discount for the provider.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from economist.recommendations.catalog import Discounts, provider_key
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

TYPES = ("spot_candidate",)


def spot_finding(
    row: dict[str, Any], discounts: Discounts, config: RuleConfig, start: datetime, end: datetime
) -> Finding | None:
    """The spot finding of one compute resource, or None."""
    offer = discounts.spot.get(provider_key(row.get("provider")) or "")
    on_demand = dec(row["on_demand_cost"])
    environment = (row.get("environment") or "").lower()
    if row.get("kind") != "compute" or offer is None or on_demand <= 0:
        return None
    if environment not in config.nonprod_values:
        return None
    hours = observed_hours(row["first_start"], row["last_end"], start, end)
    window_hours = Decimal(int((end - start).total_seconds())) / 3600
    coverage = hours / window_hours
    if coverage < config.spot_min_coverage:
        return None
    name, discount = offer
    on_demand_monthly = monthly(on_demand, hours)
    saving = on_demand_monthly * discount
    evidence = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "environment": environment,
        "on_demand_cost": money(on_demand),
        "billed_hours": number(hours),
        "window_coverage": number(coverage.quantize(Decimal("0.0001"))),
        "on_demand_monthly_cost": money(on_demand_monthly),
        "offer": name,
        "spot_discount": number(discount),
    }
    finding = Finding(
        "spot_candidate", row["resource_id"], saving, row["currency"],
        f"Run {row['resource_id']} ({environment}) on {name}",
        evidence, confidence="medium", effort="medium", risk="medium",
    )  # fmt: skip
    return located(finding, row)
