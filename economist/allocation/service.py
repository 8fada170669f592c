"""Showback: costs per group of one dimension (e.g. tag:team), with the shared cost (rows with no value for
the dimension, plus the rows a configurable filter calls shared) split across the groups proportionally to
their direct cost, evenly, or not at all (then reported as unallocated); parts add up to the total exactly."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from economist.allocation.split import apportion, exact_total, share
from economist.costs.params import CostQuery, Dimension, Filter
from economist.costs.service import CostService
from oco.db import Database
from oco.money import EXACT, exact_sum, quantize_money

SharedRule = Literal["proportional", "even", "none"]
SHARED_RULES: tuple[str, ...] = ("proportional", "even", "none")
ZERO = Decimal(0)
ONE = Decimal(1)
ROUNDING = (
    "each part is rounded down to 6 decimal places, then the millionths still missing from the rounded "
    "total go one each to the parts with the largest remainders (ties: by group name, direct before shared)"
)


@dataclass
class GroupShare:
    group: str
    direct: Decimal
    shared: Decimal

    @property
    def total(self) -> Decimal:
        return EXACT.add(self.direct, self.shared)


@dataclass
class Allocation:
    """The split: rows per group, what stayed unallocated, the rule applied and the total (= the sum)."""

    currency: str
    metric: str
    rows: list[GroupShare]
    unallocated: Decimal
    total: Decimal
    rule: dict[str, Any]


def _group(value: Any) -> str | None:
    """A group value; missing and empty both mean untagged (shared)."""
    return None if value is None or value == "" else str(value)


def weights(rule: str, direct: dict[str, Decimal]) -> tuple[dict[str, Decimal], str]:
    """Each group's weight in the shared pool under `rule`, and how the split is described."""
    if rule == "proportional":
        positive = {g: max(d, ZERO) for g, d in direct.items()}
        if any(positive.values()):
            return (
                positive,
                "proportional to each group's direct cost (a group whose direct cost nets below 0 gets none)",
            )
        return {g: ONE for g in direct}, "evenly: no group has a positive direct cost to weigh by"
    if rule == "even":
        return {g: ONE for g in direct}, "evenly across the groups"
    return {}, "not split: reported as unallocated"


class AllocationService:
    """Splits shared cost over the groups of a dimension."""

    def __init__(self, database: Database, default_currency: str = "USD") -> None:
        self.costs = CostService(database, default_currency)

    async def allocate(
        self,
        query: CostQuery,
        by: Dimension,
        rule: str,
        shared_filters: tuple[Filter, ...],
        shared_filter_text: str | None,
    ) -> Allocation:
        """Allocation of the costs `query` selects (window, filters, metric, currency) by `by`. Raises
        MixedCurrencies / MissingRate like the cost API."""
        base = replace(query, granularity=None, group_by=(by,), limit=None, offset=0)
        everything = await self.costs.query(base)
        pinned = replace(base, currency=query.currency or (everything.currency if everything.found else None))
        totals: dict[str | None, Decimal] = defaultdict(lambda: ZERO)
        for row in everything.rows:
            key = _group(row[by.name])
            totals[key] = exact_sum(totals[key], row["cost"])
        shared_of: dict[str | None, Decimal] = defaultdict(lambda: ZERO)
        if shared_filters:
            shared = await self.costs.query(replace(pinned, filters=query.filters + shared_filters))
            for row in shared.rows:
                key = _group(row[by.name])
                shared_of[key] = exact_sum(shared_of[key], row["cost"])
        groups = sorted(g for g in totals if g is not None)
        direct = {g: EXACT.subtract(totals[g], shared_of[g]) for g in groups}
        pool = exact_total([totals[None], *(shared_of[g] for g in groups)])
        weight, how = (
            weights(rule, direct) if groups else ({}, "not split: there is no group to split across")
        )
        weights_total = exact_total(list(weight.values()))
        parts: list[tuple[tuple[str, str], Decimal]] = []
        for g in groups:
            parts.append(((g, "direct"), direct[g]))
            if weight:
                parts.append(((g, "shared"), share(pool, weight[g], weights_total)))
        if not weight:
            parts.append((("", "unallocated"), pool))
        rounded = apportion(parts)
        rows = [GroupShare(g, rounded[(g, "direct")], rounded.get((g, "shared"), ZERO)) for g in groups]
        rows.sort(key=lambda r: (-r.total, r.group))
        unallocated = rounded.get(("", "unallocated"), ZERO)
        total = quantize_money(exact_total(list(totals.values())))
        shared_text = f"rows with no {by.name} value"
        if shared_filter_text:
            shared_text += f", and rows matching the filter {shared_filter_text!r}"
        return Allocation(
            currency=everything.currency,
            metric=everything.metric,
            rows=rows,
            unallocated=unallocated,
            total=total,
            rule={
                "by": by.name,
                "shared": rule,
                "shared_filter": shared_filter_text or None,
                "shared_costs": shared_text,
                "split": how,
                "rounding": ROUNDING,
            },
        )
