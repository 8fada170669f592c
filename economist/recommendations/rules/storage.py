"""Storage tiering (`storage_tiering`): object storage billed for standard-tier capacity and never read.

A resource of kind object_storage (S3, Blob, Cloud Storage, buckets) with capacity lines (text names
GB-Mo/GB-month/byte-hours/TimedStorage) not on a cold tier (no infrequent/IA/one zone/glacier/archive/
cool/cold/nearline/deep/intelligent), and request/operation/retrieval ConsumedQuantity over the window at
most OCO_ECONOMIST_RECOMMENDATIONS_STORAGE_MAX_REQUESTS (0: no request charges at all). Saving = the
monthly run rate of the standard capacity cost x (1 - infrequent-access price / standard price) from the
discount table's storage_tiers for the provider (e.g. S3 Standard 0.023 -> Standard-IA 0.0125 per GB-month).
"""

from __future__ import annotations

from datetime import datetime
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

TYPES = ("storage_tiering",)


def storage_finding(
    row: dict[str, Any], discounts: Discounts, config: RuleConfig, start: datetime, end: datetime
) -> Finding | None:
    """The tiering finding of one object-storage resource, or None."""
    tier = discounts.storage_tiers.get(provider_key(row.get("provider")) or "")
    standard = dec(row["standard_storage_cost"])
    requests = dec(row["activity_quantity"])
    if row.get("kind") != "object_storage" or tier is None or standard <= 0:
        return None
    if requests > config.storage_max_requests or tier.source_price <= 0:
        return None
    hours = observed_hours(row["first_start"], row["last_end"], start, end)
    standard_monthly = monthly(standard, hours)
    ratio = tier.target_price / tier.source_price
    saving = standard_monthly * (1 - ratio)
    evidence = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "standard_capacity_cost": money(standard),
        "standard_capacity_quantity": number(dec(row["standard_storage_quantity"])),
        "billed_hours": number(hours),
        "standard_monthly_cost": money(standard_monthly),
        "request_quantity": number(requests),
        "from_tier": tier.source,
        "from_price_per_gb_month": number(tier.source_price),
        "to_tier": tier.target,
        "to_price_per_gb_month": number(tier.target_price),
    }
    finding = Finding(
        "storage_tiering", row["resource_id"], saving, row["currency"],
        f"Move {row['resource_id']} to {tier.target}: standard-tier storage with no requests",
        evidence, confidence="medium", effort="low", risk="low",
    )  # fmt: skip
    return located(finding, row)
