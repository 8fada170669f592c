"""Response model of /api/v1/allocation (money as decimal strings with 6 places)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from economist.allocation.service import Allocation
from economist.costs.schemas import money


class AllocationRow(BaseModel):
    """One group: its direct cost, its share of the shared cost, and their sum."""

    group: str
    direct: str
    shared: str
    total: str


class AllocationResponse(BaseModel):
    """`total` is exactly the sum of the rows' totals plus `unallocated` (the shared cost left unsplit)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    by: str
    currency: str
    metric: str
    rule: dict[str, Any]
    rows: list[AllocationRow]
    shared_total: str = Field(description="the shared cost: the rows' shared parts plus unallocated")
    unallocated: str
    total: str


def allocation_out(result: Allocation, start: date, end: date) -> AllocationResponse:
    rows = [
        AllocationRow(group=r.group, direct=money(r.direct), shared=money(r.shared), total=money(r.total))
        for r in result.rows
    ]
    shared_total = result.unallocated
    for r in result.rows:
        shared_total += r.shared
    return AllocationResponse(
        from_=start,
        to=end,
        by=result.rule["by"],
        currency=result.currency,
        metric=result.metric,
        rule=result.rule,
        rows=rows,
        shared_total=money(shared_total),
        unallocated=money(result.unallocated),
        total=money(result.total),
    )
