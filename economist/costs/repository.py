"""SQL of cost queries: the daily rollup when the query's dimensions allow it, the raw ledger otherwise
(resource, tags). Expressions are computed in an inner SELECT and grouped in an outer one, so the same
expression never appears twice with different bound parameters (PostgreSQL would refuse the GROUP BY)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.costs.params import CostQuery, Dimension
from economist.ingestion.slices import day_start
from economist.ledger.tables import (
    cloud_costs,
    cloud_costs_daily,
    money_order,
    money_sum,
    money_sum_over,
    utc_day,
)
from economist.ledger.tags import tag_value

ZERO = Decimal(0)


def as_date(value: Any) -> date:
    """A DATE result as a date (SQLite hands back text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _period(granularity: str, day: Any, dialect: str) -> Any:
    if granularity == "day":
        return day
    if dialect == "sqlite":
        if granularity == "week":  # the Monday on or before the day
            return sa.func.date(day, sa.literal_column("'-6 days'"), sa.literal_column("'weekday 1'"))
        return sa.func.strftime(sa.literal_column("'%Y-%m-01'"), day)
    unit: sa.ColumnClause[str] = sa.literal_column(f"'{granularity}'")  # 'week' (ISO, Monday) or 'month'
    return sa.cast(sa.func.date_trunc(unit, sa.cast(day, sa.DateTime())), sa.Date)


class _Source:
    """Where a query reads from, and its dimension expressions there."""

    def __init__(self, query: CostQuery, dialect: str) -> None:
        self.query = query
        self.dialect = dialect
        self.rollup = query.uses_rollup
        if self.rollup:
            t = cloud_costs_daily
            self.table = t
            self.day = t.c.day
            self.currency = t.c.billing_currency
            self.where = [t.c.day >= query.start, t.c.day < query.end]
        else:
            t = cloud_costs
            self.table = t
            self.day = utc_day(t.c.charge_period_start, dialect)
            self.currency = t.c.billing_currency
            self.where = [
                t.c.charge_period_start >= day_start(query.start),
                t.c.charge_period_start < day_start(query.end),
            ]
        self.amount = self.table.c[query.metric_column]
        self.where += [self._filter(f.dimension, f.values) for f in query.filters]

    def dimension(self, dim: Dimension) -> Any:
        c = self.table.c
        if dim.kind == "tag":
            return tag_value(cloud_costs.c.tags_normalized, dim.tag_key or "")
        if dim.kind == "account":
            return c.account_id if self.rollup else sa.func.coalesce(c.sub_account_id, c.billing_account_id)
        if dim.kind == "billing_account" and self.rollup:  # the rollup keeps '' for "none"
            return sa.func.nullif(c.billing_account_id, "")
        column = {
            "provider": "provider_name",
            "service": "service_name",
            "billing_account": "billing_account_id",
            "region": "region_id",
            "resource": "resource_id",
            "charge_category": "charge_category",
        }[dim.kind]
        return c[column]

    def _filter(self, dim: Dimension, values: tuple[str | None, ...]) -> Any:
        present = [v for v in values if v is not None]
        if dim.kind == "tag" and self.dialect == "postgresql" and len(present) == len(values):
            document = sa.type_coerce(cloud_costs.c.tags_normalized, JSONB)  # jsonb containment
            return sa.or_(*(document.contains({dim.tag_key: v}) for v in present))
        expression = self.dimension(dim)
        clause = expression.in_(present)
        return sa.or_(clause, expression.is_(None)) if len(present) != len(values) else clause


@dataclass
class GroupedPage:
    """One page of grouped costs, the count and sum of all groups, and the lowest and highest billing
    currency among them (equal when the selection is in one currency; None when it is empty)."""

    rows: list[dict[str, Any]]  # {"period": date|None, "<dim>": value, ..., "cost": Decimal}
    total_rows: int
    total: Decimal
    currency_low: str | None
    currency_high: str | None

    @property
    def currencies(self) -> set[str]:
        return {c for c in (self.currency_low, self.currency_high) if c is not None}


def _inner(query: CostQuery, source: _Source, *, by_day: bool, with_currency: bool) -> Any:
    columns = []
    if by_day:
        columns.append(source.day.label("period"))
    elif query.granularity:
        columns.append(_period(query.granularity, source.day, source.dialect).label("period"))
    columns += [source.dimension(d).label(f"d{i}") for i, d in enumerate(query.group_by)]
    if with_currency:
        columns.append(source.currency.label("currency"))
    columns.append(source.amount.label("amount"))
    return sa.select(*columns).select_from(source.table).where(*source.where).subquery("costs")


def _grouped(query: CostQuery, inner: Any, dialect: str) -> Any:
    keys = [c for c in inner.c if c.name != "amount"]
    return sa.select(*keys, money_sum(inner.c.amount, dialect).label("cost")).group_by(*keys)


def _row(query: CostQuery, record: Any, has_period: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"period": as_date(record.period) if has_period else None}
    for i, dim in enumerate(query.group_by):
        row[dim.name] = getattr(record, f"d{i}")
    if "currency" in record._fields:
        row["currency"] = record.currency
    row["cost"] = record.cost if record.cost is not None else ZERO
    return row


async def currencies(conn: AsyncConnection, query: CostQuery) -> set[str]:
    """The billing currencies of the rows the query covers."""
    source = _Source(query, conn.dialect.name)
    result = await conn.execute(sa.select(source.currency).where(*source.where).distinct())
    return {r[0] for r in result}


async def grouped_page(conn: AsyncConnection, query: CostQuery) -> GroupedPage:
    """Costs grouped by period and dimensions, ordered by period then cost (descending), one page of them,
    in ONE scan: window functions add the count, the total and the currency range to every row. The sums
    are meaningful only when currency_low == currency_high; the caller checks."""
    dialect = conn.dialect.name
    source = _Source(query, dialect)
    inner = _inner(query, source, by_day=False, with_currency=True)
    keys = [c for c in inner.c if c.name not in ("amount", "currency")]
    grouped = (
        sa.select(
            *keys,
            money_sum(inner.c.amount, dialect).label("cost"),
            sa.func.min(inner.c.currency).label("currency_low"),
            sa.func.max(inner.c.currency).label("currency_high"),
        )
        .group_by(*keys)
        .having(sa.func.count() > 0)  # without keys an aggregate over no rows would still give one row
        .subquery("g")
    )
    order = []
    if query.granularity:
        order.append(grouped.c.period)
    order.append(money_order(grouped.c.cost, dialect).desc())
    order += [grouped.c[f"d{i}"] for i in range(len(query.group_by))]
    statement = (
        sa.select(
            *(grouped.c[c.name] for c in keys),
            grouped.c.cost,
            sa.func.count().over().label("total_rows"),
            money_sum_over(grouped.c.cost, dialect).label("total"),
            sa.func.min(grouped.c.currency_low).over().label("all_low"),
            sa.func.max(grouped.c.currency_high).over().label("all_high"),
        )
        .order_by(*order)
        .offset(query.offset)
    )
    if query.limit is not None:
        statement = statement.limit(query.limit)
    records = (await conn.execute(statement)).all()
    if records:
        first = records[0]
        return GroupedPage(
            [_row(query, r, bool(query.granularity)) for r in records],
            int(first.total_rows),
            first.total if first.total is not None else ZERO,
            first.all_low,
            first.all_high,
        )
    # an empty page (no data, or an offset past the end): the totals need their own query
    summary = (
        await conn.execute(
            sa.select(
                sa.func.count(),
                money_sum(grouped.c.cost, dialect),
                sa.func.min(grouped.c.currency_low),
                sa.func.max(grouped.c.currency_high),
            ).select_from(grouped)
        )
    ).one()
    return GroupedPage([], int(summary[0]), summary[1] or ZERO, summary[2], summary[3])


async def daily_by_currency(conn: AsyncConnection, query: CostQuery) -> list[dict[str, Any]]:
    """Every (day, dimensions, currency) group with its cost: the input of currency conversion and of
    daily series (anomalies, forecasts)."""
    dialect = conn.dialect.name
    source = _Source(query, dialect)
    statement = _grouped(query, _inner(query, source, by_day=True, with_currency=True), dialect)
    return [_row(query, r, True) for r in (await conn.execute(statement)).all()]


async def last_day(conn: AsyncConnection, query: CostQuery) -> date | None:
    """The last day with a cost in the query's window and filters (None when there is none)."""
    source = _Source(query, conn.dialect.name)
    inner = sa.select(source.day.label("day")).select_from(source.table).where(*source.where).subquery("days")
    value = (await conn.execute(sa.select(sa.func.max(inner.c.day)))).scalar()
    return None if value is None else as_date(value)
