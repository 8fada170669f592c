"""SQL of the FOCUS export: the ledger rows of a window and filters, read in batches from one streaming cursor
(never the whole selection in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.costs.params import Filter
from economist.ledger.columns import COLUMN_NAMES
from economist.ledger.tables import cloud_costs
from economist.ledger.tags import tag_value
from economist.sources.values import day_start

_COLUMNS = {
    "provider": "provider_name",
    "service": "service_name",
    "billing_account": "billing_account_id",
    "region": "region_id",
    "resource": "resource_id",
    "charge_category": "charge_category",
}


def _dimension(filter_: Filter) -> Any:
    c = cloud_costs.c
    dim = filter_.dimension
    if dim.kind == "tag":
        return tag_value(c.tags_normalized, dim.tag_key or "")
    if dim.kind == "account":
        return sa.func.coalesce(c.sub_account_id, c.billing_account_id)
    return c[_COLUMNS[dim.kind]]


def _clause(filter_: Filter) -> Any:
    expression = _dimension(filter_)
    present = [v for v in filter_.values if v is not None]
    clause = expression.in_(present)
    return sa.or_(clause, expression.is_(None)) if len(present) != len(filter_.values) else clause


def ledger_rows_statement(start: date, end: date, filters: Sequence[Filter]) -> sa.Select[Any]:
    """The ledger columns of the rows charged in [start, end) that match the filters, in charge order."""
    c = cloud_costs.c
    return (
        sa.select(*(c[name] for name in COLUMN_NAMES))
        .where(
            c.charge_period_start >= day_start(start),
            c.charge_period_start < day_start(end),
            *(_clause(f) for f in filters),
        )
        .order_by(c.charge_period_start, c.ingestion_id)
    )


async def stream_ledger_rows(
    conn: AsyncConnection, statement: sa.Select[Any], batch_size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """The statement's rows as dicts, `batch_size` at a time, from a server-side cursor."""
    result = await conn.stream(statement.execution_options(yield_per=batch_size))
    async for partition in result.mappings().partitions(batch_size):
        yield [dict(row) for row in partition]
