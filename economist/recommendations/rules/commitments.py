"""Commitments: buying one sized from the steady on-demand baseline (`commitment_purchase`), and the
commitments already in the ledger that go unused (`commitment_underused`).

`commitment_purchase`, per provider, billing account and currency: the daily on-demand compute spend
(ServiceCategory Compute, Usage, no CommitmentDiscountId, PricingCategory Standard/On-Demand/empty) over
the last OCO_ECONOMIST_RECOMMENDATIONS_COMMITMENT_LOOKBACK_DAYS (30) days, a day with none counting 0. The
baseline is that series' p10 (nearest rank: the ceil(0.10 n)-th smallest day; ..._COMMITMENT_PERCENTILE)
divided by 24: an hourly amount spent even on the quietest tenth of days (daily buckets because many
sources deliver daily rows). The offering is the discount table's one for the provider with
..._COMMITMENT_TERM_MONTHS (12) and ..._COMMITMENT_PAYMENT (no_upfront); the others are in the evidence.
  saving/month = baseline x 730 x discount; commitment/hour = baseline x (1 - discount);
  upfront = commitment/hour x 730 x term x upfront share; recurring/month = commitment/hour x 730 x
  (1 - upfront share); break-even month = max(1, ceil(upfront / (baseline x 730 - recurring)));
  coverage now = covered / (covered + on-demand) compute spend (covered: a CommitmentDiscountId, or
  PricingCategory Committed, and CommitmentDiscountStatus not Unused); coverage after = (covered + baseline
  x hours) / (covered + on-demand). Confidence from steadiness p10 / mean day: >= 0.8 high, >= 0.5 medium.

`commitment_underused`, per CommitmentDiscountId over the window: utilization = used / (used + unused)
effective cost (CommitmentDiscountStatus Unused marks the unused part); below
..._COMMITMENT_MIN_UTILIZATION (0.95) it is flagged, saving = the unused cost's monthly run rate (what
moving workload onto it, or exchanging/resizing it, recovers).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from economist.recommendations.catalog import Commitment, Discounts, provider_key
from economist.recommendations.rules.common import (
    HOURS_PER_MONTH,
    ZERO,
    Finding,
    RuleConfig,
    dec,
    money,
    monthly,
    number,
    observed_hours,
    parse_datetime,
)
from oco.timeutil import as_utc

TYPES = ("commitment_purchase", "commitment_underused")
HOURS_PER_DAY = Decimal(24)
RATIO = Decimal("0.0001")


def nearest_rank(values: list[Decimal], percentile: int) -> Decimal:
    """The nearest-rank percentile: the ceil(p/100 x n)-th smallest value (the smallest for p = 0)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(Decimal(percentile) / 100 * len(ordered)))
    return ordered[rank - 1]


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def by_day(rows: list[dict[str, Any]], since: datetime) -> list[dict[str, Any]]:
    """Compute spend per provider, billing account, currency and UTC day from the rows of
    repository.compute_and_commitment_spend that start at or after `since`."""
    days: dict[tuple[str, str, str, date], list[Decimal]] = {}
    for row in rows:
        start = as_utc(parse_datetime(row["charge_start"]))
        if not row["compute"] or start is None or start < since:
            continue
        key = (row["provider"], row["billing_account_id"], row["currency"], start.date())
        sums = days.setdefault(key, [ZERO, ZERO])
        sums[0] += dec(row["on_demand_cost"])
        sums[1] += dec(row["covered_cost"])
    return [
        {
            "provider": provider,
            "billing_account_id": account,
            "currency": currency,
            "day": day,
            "on_demand_cost": sums[0],
            "covered_cost": sums[1],
        }
        for (provider, account, currency, day), sums in days.items()
    ]


def by_commitment(rows: list[dict[str, Any]], since: datetime) -> list[dict[str, Any]]:
    """Used and unused cost per commitment (and provider, billing account, currency) from the rows of
    repository.compute_and_commitment_spend that start at or after `since`."""
    found: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in rows:
        start = as_utc(parse_datetime(row["charge_start"]))
        if row["commitment_discount_id"] is None or start is None or start < since:
            continue
        key = (row["commitment_discount_id"], row["provider"], row["billing_account_id"], row["currency"])
        entry = found.setdefault(
            key,
            {
                "commitment_discount_id": key[0],
                "provider": key[1],
                "billing_account_id": key[2] or None,
                "currency": key[3],
                "used_cost": ZERO,
                "unused_cost": ZERO,
                "first_start": start,
                "last_end": None,
            },
        )
        entry["unused_cost" if row["unused"] else "used_cost"] += dec(row["cost"])
        entry["first_start"] = min(entry["first_start"], start)
        end = as_utc(parse_datetime(row["last_end"]))
        entry["last_end"] = (
            end if entry["last_end"] is None or (end and end > entry["last_end"]) else entry["last_end"]
        )
        for name in ("name", "commitment_type", "category", "region"):
            if row.get(name) is not None and (entry.get(name) is None or row[name] > entry[name]):
                entry[name] = row[name]
    return list(found.values())


def _plan(offer: Commitment, baseline: Decimal) -> dict[str, Any]:
    hourly = baseline * (1 - offer.discount)
    upfront = hourly * HOURS_PER_MONTH * offer.term_months * offer.upfront
    recurring = hourly * HOURS_PER_MONTH * (1 - offer.upfront)
    on_demand = baseline * HOURS_PER_MONTH
    margin = on_demand - recurring
    break_even = max(1, math.ceil(upfront / margin)) if margin > 0 else None
    return {
        "offer": offer.name,
        "kind": offer.kind,
        "term_months": offer.term_months,
        "payment": offer.payment,
        "discount": number(offer.discount),
        "commitment_per_hour": money(hourly),
        "upfront_payment": money(upfront),
        "recurring_per_month": money(recurring),
        "monthly_saving": money(baseline * HOURS_PER_MONTH * offer.discount),
        "break_even_month": break_even,
    }


def purchase_findings(
    daily: list[dict[str, Any]], discounts: Discounts, config: RuleConfig, start: date, end: date
) -> list[Finding]:
    """One commitment_purchase per provider/billing account/currency with a positive baseline."""
    days = (end - start).days
    scopes: dict[tuple[str, str, str], dict[date, tuple[Decimal, Decimal]]] = defaultdict(dict)
    for row in daily:
        key = (row["provider"], row["billing_account_id"], row["currency"])
        scopes[key][_day(row["day"])] = (dec(row["on_demand_cost"]), dec(row["covered_cost"]))
    findings = []
    for (provider, account, currency), by_day in sorted(scopes.items()):
        offers = discounts.commitments.get(provider_key(provider) or "", [])
        chosen = next(
            (
                o
                for o in offers
                if o.term_months == config.commitment_term_months and o.payment == config.commitment_payment
            ),
            None,
        )
        series = [by_day.get(start + timedelta(days=i), (ZERO, ZERO))[0] for i in range(days)]
        covered = sum((v[1] for v in by_day.values()), ZERO)
        on_demand = sum(series, ZERO)
        p_day = nearest_rank(series, config.commitment_percentile)
        if chosen is None or p_day <= 0:
            continue
        baseline = p_day / HOURS_PER_DAY
        mean_day = on_demand / days
        steadiness = p_day / mean_day
        eligible = covered + on_demand
        plan = _plan(chosen, baseline)
        saving = baseline * HOURS_PER_MONTH * chosen.discount
        evidence = {
            "lookback_start": start.isoformat(),
            "lookback_end": end.isoformat(),
            "days": days,
            "percentile": config.commitment_percentile,
            "daily_on_demand_percentile": money(p_day),
            "baseline_per_hour": money(baseline),
            "on_demand_cost": money(on_demand),
            "covered_cost": money(covered),
            "mean_daily_on_demand": money(mean_day),
            "steadiness": number(steadiness.quantize(RATIO)),
            "coverage_now": number((covered / eligible).quantize(RATIO)),
            "coverage_after": number(((covered + p_day * days) / eligible).quantize(RATIO)),
            **plan,
            "alternatives": [_plan(o, baseline) for o in offers if o is not chosen],
        }
        confidence = (
            "high" if steadiness >= Decimal("0.8") else "medium" if steadiness >= Decimal("0.5") else "low"
        )
        findings.append(
            Finding(
                "commitment_purchase",
                f"{provider}/{account or '-'}/compute",
                saving,
                currency,
                f"Buy {chosen.name} at {money(plan_hourly(chosen, baseline))}/hour for {provider} "
                f"account {account or '-'}",
                evidence,
                confidence=confidence,
                effort="low",
                risk="medium",
                provider=provider,
                billing_account_id=account or None,
                account_id=account or None,
                service_name="compute",
            )  # fmt: skip
        )
    return findings


def plan_hourly(offer: Commitment, baseline: Decimal) -> Decimal:
    return baseline * (1 - offer.discount)


def underused_findings(
    rows: list[dict[str, Any]], config: RuleConfig, start: datetime, end: datetime
) -> list[Finding]:
    """One commitment_underused per commitment whose utilization is below the minimum."""
    findings = []
    for row in rows:
        used, unused = dec(row["used_cost"]), dec(row["unused_cost"])
        total = used + unused
        if unused <= 0 or total <= 0:
            continue
        utilization = used / total
        if utilization >= config.commitment_min_utilization:
            continue
        hours = observed_hours(row["first_start"], row["last_end"], start, end)
        saving = monthly(unused, hours)
        evidence = {
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "used_cost": money(used),
            "unused_cost": money(unused),
            "utilization": number(utilization.quantize(RATIO)),
            "minimum_utilization": number(config.commitment_min_utilization),
            "billed_hours": number(hours),
            "commitment_type": row.get("commitment_type"),
            "commitment_category": row.get("category"),
        }
        commitment = row["commitment_discount_id"]
        findings.append(
            Finding(
                "commitment_underused",
                commitment,
                saving,
                row["currency"],
                f"Commitment {row.get('name') or commitment} is {number((utilization * 100).quantize(Decimal('0.1')))}% "
                "used: move workload onto it, or exchange or resize it",
                evidence,
                confidence="high",
                effort="medium",
                risk="low",
                provider=row.get("provider"),
                billing_account_id=row.get("billing_account_id"),
                account_id=row.get("billing_account_id"),
                region=row.get("region"),
                resource_name=row.get("name"),
            )  # fmt: skip
        )
    return findings
