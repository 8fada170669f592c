"""How each policy type finds its violations on a day (`as_of`): the window it reads, the aggregation it
asks the repository for, and the findings (resource or scope, evidence, cost at stake) it draws from them.
Boundaries: an amount is exceeded only when above it; a coverage fails only when below the minimum."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from economist.governance import repository as repo
from economist.governance.rules import (
    BudgetLimitParams,
    MaxResourceCostParams,
    RegionRestrictionParams,
    Scope,
    ServiceListParams,
    TagComplianceParams,
)
from economist.ledger.tags import TagNormalizer
from oco.money import money_str, quantize_money

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PERCENT_PLACES = Decimal("0.01")

#: the spend of a scope over [start, end) in a currency (the cost service: rollup and FX conversion)
SpendReader = Callable[[Scope, date, date, str], Awaitable[Decimal]]


@dataclass
class Finding:
    """What a policy flags: one resource (or the scope), the numbers behind it, and the cost at stake."""

    resource: str
    cost_at_stake: Decimal
    currency: str | None
    evidence: dict[str, Any] = field(default_factory=dict)


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """The calendar period (daily, monthly, quarterly, yearly) holding `day`: [start, end)."""
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "yearly":
        return date(day.year, 1, 1), date(day.year + 1, 1, 1)
    months = 3 if period == "quarterly" else 1
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + months
    end = date(day.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return start, end


def trailing(as_of: date, days: int) -> tuple[date, date]:
    """The `days` days ending with `as_of` (inclusive)."""
    return as_of - timedelta(days=days - 1), as_of + timedelta(days=1)


def window(scope: Scope, bounds: tuple[date, date], normalizer: TagNormalizer) -> repo.Window:
    tags = tuple(sorted((normalizer.key(k), v) for k, v in (scope.tag or {}).items()))
    return repo.Window(bounds[0], bounds[1], scope.provider, scope.account, scope.service, scope.region, tags)


def _money(value: Decimal) -> str:
    return money_str(value) or "0"


async def budget_limit(
    params: BudgetLimitParams, scope: Scope, as_of: date, spend: SpendReader
) -> list[Finding]:
    start, end = period_bounds(params.period, as_of)
    spent = await spend(scope, start, end, params.currency)
    if spent <= params.amount:
        return []
    evidence = {
        "spent": _money(spent),
        "amount": _money(params.amount),
        "percent_of_amount": str((spent * HUNDRED / params.amount).quantize(PERCENT_PLACES)),
        "period": params.period,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
    }
    return [Finding("scope", quantize_money(spent - params.amount), params.currency, evidence)]


async def tag_compliance(
    conn: AsyncConnection, params: TagComplianceParams, scope: Scope, as_of: date, normalizer: TagNormalizer
) -> list[Finding]:
    bounds = trailing(as_of, params.lookback_days)
    required = [normalizer.key(k) for k in params.required_tags]
    allowed = {normalizer.key(k): v for k, v in params.allowed_values.items()}
    rows = await repo.tag_coverage(conn, window(scope, bounds, normalizer), required, allowed)
    by_currency: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], []).append(row)
    findings = []
    for currency, services in sorted(by_currency.items()):
        total = sum((r["total"] or ZERO for r in services), ZERO)
        covered = sum((r["covered"] or ZERO for r in services), ZERO)
        if total <= 0:
            continue
        coverage = covered * HUNDRED / total
        if coverage >= params.min_coverage_percent:
            continue
        gaps = sorted(
            ((r["service"], (r["total"] or ZERO) - (r["covered"] or ZERO)) for r in services),
            key=lambda gap: (-gap[1], gap[0] or ""),
        )
        evidence = {
            "total_cost": _money(total),
            "compliant_cost": _money(covered),
            "coverage_percent": str(coverage.quantize(PERCENT_PLACES)),
            "min_coverage_percent": str(params.min_coverage_percent),
            "required_tags": params.required_tags,
            "from": bounds[0].isoformat(),
            "to": bounds[1].isoformat(),
            "non_compliant_by_service": [{"service": s, "cost": _money(c)} for s, c in gaps[:10] if c > 0],
        }
        findings.append(Finding(f"scope:{currency}", quantize_money(total - covered), currency, evidence))
    return findings


async def region_restriction(
    conn: AsyncConnection,
    params: RegionRestrictionParams,
    scope: Scope,
    as_of: date,
    normalizer: TagNormalizer,
) -> list[Finding]:
    bounds = trailing(as_of, params.lookback_days)
    allowed = params.allowed_regions
    rows = await repo.outside_regions(conn, window(scope, bounds, normalizer), allowed, params.min_cost)
    return [
        Finding(
            r["resource_id"] or f"region:{r['region_id']}",
            quantize_money(r["cost"]),
            r["billing_currency"],
            {
                "region": r["region_id"],
                "cost": _money(r["cost"]),
                "allowed_regions": allowed,
                "from": bounds[0].isoformat(),
                "to": bounds[1].isoformat(),
            },
        )
        for r in rows
    ]


async def service_list(
    conn: AsyncConnection,
    params: ServiceListParams,
    scope: Scope,
    as_of: date,
    normalizer: TagNormalizer,
    *,
    allow: bool,
) -> list[Finding]:
    bounds = trailing(as_of, params.lookback_days)
    listed = params.services

    rows = await repo.refused_services(
        conn, window(scope, bounds, normalizer), listed, allow=allow, min_cost=params.min_cost
    )
    seen: dict[str | None, int] = {}
    for r in rows:
        seen[r["service_name"]] = seen.get(r["service_name"], 0) + 1
    return [
        Finding(
            f"service:{r['service_name']}"
            + (f":{r['billing_currency']}" if seen[r["service_name"]] > 1 else ""),
            quantize_money(r["cost"]),
            r["billing_currency"],
            {
                "service": r["service_name"],
                "cost": _money(r["cost"]),
                ("allowed_services" if allow else "denied_services"): listed,
                "from": bounds[0].isoformat(),
                "to": bounds[1].isoformat(),
            },
        )
        for r in rows
    ]


async def max_resource_cost(
    conn: AsyncConnection, params: MaxResourceCostParams, scope: Scope, as_of: date, normalizer: TagNormalizer
) -> list[Finding]:
    bounds = trailing(as_of, params.lookback_days)
    rows = await repo.resources_over(conn, window(scope, bounds, normalizer), params.amount, params.currency)
    return [
        Finding(
            r["resource_id"],
            quantize_money(r["cost"] - params.amount),
            params.currency,
            {
                "cost": _money(r["cost"]),
                "amount": _money(params.amount),
                "lookback_days": params.lookback_days,
                "from": bounds[0].isoformat(),
                "to": bounds[1].isoformat(),
            },
        )
        for r in rows
    ]
