"""SQL of recommendations: the per-resource and per-day aggregates the rules read (computed in the database,
never the ledger's rows in Python), the recommendation rows' upsert, list and status, and utilization."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.ledger.tables import EMPTY_TEXT, Quantity, cloud_costs, money_order, money_sum
from economist.ledger.tags import tag_value
from economist.recommendations import patterns as p
from economist.recommendations.tables import (
    ACTIVE_STATUSES,
    optimization_recommendations,
    resource_utilization,
)
from oco.pagination import PageParams, paginate

ZERO = Decimal(0)
recs = optimization_recommendations


def _text(*columns: Any) -> Any:
    """lower(coalesce(a,'') || ' ' || coalesce(b,'') ...): one searchable text of a line."""
    parts: list[Any] = []
    for column in columns:
        if parts:
            parts.append(sa.literal_column("' '"))
        parts.append(sa.func.coalesce(column, EMPTY_TEXT))
    return sa.func.lower(_concat(parts))


def _concat(parts: list[Any]) -> Any:
    expression = parts[0]
    for part in parts[1:]:
        expression = expression.op("||")(part)
    return expression


def _like_any(expression: Any, needles: Iterable[str]) -> Any:
    return sa.or_(*(expression.like(f"%{needle}%") for needle in needles))


def _quantity_sum(column: Any, dialect: str) -> Any:
    return sa.type_coerce(money_sum(column, dialect), Quantity())


def _window(start: datetime, end: datetime, billing_account: str | None) -> list[Any]:
    c = cloud_costs.c
    where = [c.charge_period_start >= start, c.charge_period_start < end, c.charge_category == "Usage"]
    if billing_account is not None:
        where.append(c.billing_account_id == billing_account)
    return where


def _on_demand(c: Any) -> Any:
    """No commitment and an on-demand PricingCategory (FOCUS spellings, compared as stored: no per-row lower())."""
    return sa.and_(
        c.commitment_discount_id.is_(None),
        sa.or_(c.pricing_category.is_(None), c.pricing_category.in_(p.ON_DEMAND_PRICING_CATEGORIES)),
    )


def _covered(c: Any) -> Any:
    """Covered by a commitment (an id, or PricingCategory Committed) and not its unused part."""
    return sa.and_(
        sa.or_(c.commitment_discount_id.is_not(None), c.pricing_category.in_(p.COMMITTED_PRICING_CATEGORIES)),
        sa.or_(
            c.commitment_discount_status.is_(None),
            c.commitment_discount_status.not_in(p.UNUSED_COMMITMENT_STATUSES),
        ),
    )


def _kind(label: Any) -> Any:
    """The resource kind from its label text (see patterns.KINDS, first match wins)."""
    return sa.case(*((_like_any(label, needles), kind) for kind, needles in p.KINDS), else_=None)


async def tune_for_aggregates(conn: AsyncConnection) -> None:
    """PostgreSQL: enough work_mem, for this transaction only, that grouping the window's rows by resource
    and line kind (tens of thousands of groups) is one in-memory hash aggregate, not an external sort."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SET LOCAL work_mem = '128MB'"))


async def resource_candidates(
    conn: AsyncConnection,
    start: datetime,
    end: datetime,
    *,
    billing_account: str | None,
    nonprod_values: Sequence[str],
    max_idle_activity: Decimal,
    max_storage_requests: Decimal,
    resource_types: Sequence[str],
) -> list[dict[str, Any]]:
    """Per resource over [start, end): its usage spend and the quantities the rules test, for the resources
    some rule may flag (or that an active recommendation names).

    One scan of the window's rows groups them by resource and *kind of line* (units, SKU, description): a
    resource has a handful of those, so the text matching of the rules runs on those groups, not on every
    row; a second, small GROUP BY folds them per resource."""
    dialect = conn.dialect.name
    c = cloud_costs.c
    env = sa.func.coalesce(*(tag_value(c.tags_normalized, key) for key in p.ENVIRONMENT_TAG_KEYS))
    # grouped by resource, currency and line kind; what is constant per resource (provider, accounts, region,
    # service, type) is carried by max(): measured 40% cheaper than hashing it as more grouping keys
    line_keys = (c.consumed_unit, c.pricing_unit, c.sku_id, c.charge_description)
    carried = {
        "provider": c.provider_name,
        "billing_account_id": c.billing_account_id,
        "sub_account_id": c.sub_account_id,
        "region": c.region_id,
        "service_category": c.service_category,
        "service_name": c.service_name,
        "resource_type": c.resource_type,
        "resource_name": c.resource_name,
    }
    lines = (
        sa.select(
            c.resource_id,
            c.billing_currency.label("currency"),
            *line_keys,
            *(sa.func.max(column).label(name) for name, column in carried.items()),
            money_sum(c.effective_cost, dialect).label("cost"),
            money_sum(sa.case((_on_demand(c), c.effective_cost)), dialect).label("on_demand_cost"),
            _quantity_sum(c.consumed_quantity, dialect).label("quantity"),
            sa.func.min(c.charge_period_start).label("first_start"),
            sa.func.max(c.charge_period_end).label("last_end"),
            sa.func.max(env).label("environment"),
        )
        .where(*_window(start, end, billing_account), c.resource_id.is_not(None))
        .group_by(c.resource_id, c.billing_currency, *line_keys)
        .subquery("per_line_kind")
    )
    # the line texts once per line kind (OFFSET 0 keeps PostgreSQL from inlining them into every LIKE)
    k = lines.c
    texts = (
        sa.select(
            lines,
            _text(k.consumed_unit, k.pricing_unit, k.sku_id, k.charge_description).label("line"),
            _text(k.service_category, k.service_name, k.resource_type, k.charge_description).label("label"),
        )
        .offset(0)
        .subquery("texts")
    )
    t = texts.c
    capacity = sa.and_(_like_any(t.line, p.CAPACITY), sa.not_(_like_any(t.line, p.COLD_TIERS)))
    keys = [t.resource_id, t.currency]
    grouped = (
        sa.select(
            *keys,
            sa.func.max(t.provider).label("provider"),
            sa.func.max(t.billing_account_id).label("billing_account_id"),
            sa.func.coalesce(sa.func.max(t.sub_account_id), sa.func.max(t.billing_account_id)).label(
                "account_id"
            ),
            sa.func.max(t.region).label("region"),
            money_sum(t.cost, dialect).label("cost"),
            money_sum(t.on_demand_cost, dialect).label("on_demand_cost"),
            money_sum(sa.case((_like_any(t.line, p.IDLE), t.cost)), dialect).label("idle_cost"),
            money_sum(sa.case((capacity, t.cost)), dialect).label("standard_storage_cost"),
            _quantity_sum(sa.case((capacity, t.quantity)), dialect).label("standard_storage_quantity"),
            _quantity_sum(sa.case((_like_any(t.line, p.ACTIVITY), t.quantity)), dialect).label(
                "activity_quantity"
            ),
            sa.func.min(t.first_start).label("first_start"),
            sa.func.max(t.last_end).label("last_end"),
            _kind(sa.func.max(t.label)).label("kind"),
            sa.func.max(t.service_name).label("service_name"),
            sa.func.max(t.resource_name).label("resource_name"),
            sa.func.max(t.resource_type).label("resource_type"),
            sa.func.max(t.sku_id).label("sku_id"),
            sa.func.max(t.charge_description).label("charge_description"),
            sa.func.lower(sa.func.max(t.environment)).label("environment"),
        )
        .group_by(*keys)
        .subquery("per_resource")
    )
    g = grouped.c
    kind = g.kind

    def num(column: Any) -> Any:
        return sa.func.coalesce(money_order(column, dialect), 0)

    utilized = sa.select(resource_utilization.c.resource_id)
    active = sa.select(recs.c.resource_id).where(
        recs.c.status.in_(ACTIVE_STATUSES), recs.c.type.in_(resource_types)
    )
    statement = sa.select(grouped).where(
        sa.or_(
            sa.and_(
                kind.in_(("volume", "database", "load_balancer")),
                num(g.activity_quantity) <= max_idle_activity,
            ),
            sa.and_(kind == "ip", num(g.idle_cost) > 0),
            sa.and_(
                kind == "object_storage",
                num(g.standard_storage_cost) > 0,
                num(g.activity_quantity) <= max_storage_requests,
            ),
            sa.and_(kind == "compute", g.environment.in_(list(nonprod_values)), num(g.on_demand_cost) > 0),
            g.resource_id.in_(utilized),
            g.resource_id.in_(active),
        )
    )
    return [dict(r) for r in (await conn.execute(statement)).mappings()]


async def compute_and_commitment_spend(
    conn: AsyncConnection, start: datetime, end: datetime, *, billing_account: str | None
) -> list[dict[str, Any]]:
    """One scan for both commitment rules: per provider, billing account ('' for none), currency, charge start
    (an hour, or a day, as the source bills), CommitmentDiscountId, compute or not and unused or not, the
    on-demand, covered and total usage spend of compute lines and of lines under a commitment. The caller
    folds the starts into days and the commitments (no per-row time-zone arithmetic in SQL)."""
    dialect = conn.dialect.name
    c = cloud_costs.c
    account = sa.func.coalesce(c.billing_account_id, EMPTY_TEXT)
    compute = sa.func.coalesce(c.service_category.in_(p.COMPUTE_CATEGORIES), sa.false())
    unused = sa.func.coalesce(c.commitment_discount_status.in_(p.UNUSED_COMMITMENT_STATUSES), sa.false())
    statement = (
        sa.select(
            c.provider_name.label("provider"),
            account.label("billing_account_id"),
            c.billing_currency.label("currency"),
            c.charge_period_start.label("charge_start"),
            c.commitment_discount_id,
            compute.label("compute"),
            unused.label("unused"),
            money_sum(sa.case((_on_demand(c), c.effective_cost)), dialect).label("on_demand_cost"),
            money_sum(sa.case((_covered(c), c.effective_cost)), dialect).label("covered_cost"),
            money_sum(c.effective_cost, dialect).label("cost"),
            sa.func.max(c.charge_period_end).label("last_end"),
            sa.func.max(c.commitment_discount_name).label("name"),
            sa.func.max(c.commitment_discount_type).label("commitment_type"),
            sa.func.max(c.commitment_discount_category).label("category"),
            sa.func.max(c.region_id).label("region"),
        )
        .where(
            *_window(start, end, billing_account),
            sa.or_(c.service_category.in_(p.COMPUTE_CATEGORIES), c.commitment_discount_id.is_not(None)),
        )
        .group_by(
            c.provider_name,
            account,
            c.billing_currency,
            c.charge_period_start,
            c.commitment_discount_id,
            compute,
            unused,
        )  # fmt: skip
    )
    return [dict(r) for r in (await conn.execute(statement)).mappings()]


async def latest_ledger_day(conn: AsyncConnection) -> Any:
    """The last charge day in the ledger (from the daily rollup's index), or None when it is empty."""
    from economist.ledger.tables import cloud_costs_daily

    return (await conn.execute(sa.select(sa.func.max(cloud_costs_daily.c.day)))).scalar_one_or_none()


# -- recommendation rows --------------------------------------------------------------------------------------


async def existing(
    conn: AsyncConnection, types: Sequence[str], billing_account: str | None, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """By (type, resource_id): the recommendations of `types` in the billing account (all when None), and
    those of `keys` wherever they are (a type + resource is one row whichever account it was seen in)."""
    columns = (recs.c.id, recs.c.type, recs.c.resource_id, recs.c.status, recs.c.billing_account_id)
    statement = sa.select(*columns).where(recs.c.type.in_(types))
    if billing_account is not None:
        statement = statement.where(recs.c.billing_account_id == billing_account)
    found = {(r["type"], r["resource_id"]): dict(r) for r in (await conn.execute(statement)).mappings()}
    if billing_account is not None:
        wanted = {key for key in keys if key not in found}
        resources = sorted({resource for _, resource in wanted})
        for chunk in range(0, len(resources), 1000):
            rows = await conn.execute(
                sa.select(*columns).where(recs.c.resource_id.in_(resources[chunk : chunk + 1000]))
            )
            for r in rows.mappings():
                if (r["type"], r["resource_id"]) in wanted:
                    found[(r["type"], r["resource_id"])] = dict(r)
    return found


async def insert_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(sa.insert(recs), list(rows))


UPDATABLE = (
    "resource_name", "provider", "billing_account_id", "account_id", "region", "service_name", "currency",
    "estimated_monthly_saving", "summary", "evidence", "confidence", "effort", "risk", "last_seen_at",
)  # fmt: skip


async def update_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Refresh the findings of existing rows (`row_id` + UPDATABLE; `status` etc. when present)."""
    if not rows:
        return
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k != "row_id")), []).append(row)
    for keys, members in groups.items():
        statement = (
            sa.update(recs)
            .where(recs.c.id == sa.bindparam("row_id"))
            .values({k: sa.bindparam(k) for k in keys})
        )
        await conn.execute(statement, members)


async def close_many(conn: AsyncConnection, ids: Sequence[int], values: dict[str, Any]) -> None:
    for chunk in range(0, len(ids), 1000):
        await conn.execute(sa.update(recs).where(recs.c.id.in_(ids[chunk : chunk + 1000])).values(values))


def _filtered(filters: dict[str, Any]) -> list[Any]:
    where: list[Any] = []
    if filters.get("type"):
        where.append(recs.c.type == filters["type"])
    if filters.get("status"):
        where.append(recs.c.status == filters["status"])
    if filters.get("provider"):
        where.append(sa.func.lower(recs.c.provider) == filters["provider"].lower())
    if filters.get("account"):
        where.append(
            sa.or_(recs.c.account_id == filters["account"], recs.c.billing_account_id == filters["account"])
        )
    return where


async def list_recommendations(
    conn: AsyncConnection, filters: dict[str, Any], *, descending: bool, page: PageParams
) -> tuple[list[dict[str, Any]], int, dict[str, Decimal]]:
    """A page of recommendations sorted by saving, the count matching, and their saving by currency."""
    dialect = conn.dialect.name
    where = _filtered(filters)
    saving = money_order(recs.c.estimated_monthly_saving, dialect)
    if filters.get("min_saving") is not None:
        where.append(saving >= filters["min_saving"])
    order = saving.desc() if descending else saving.asc()
    statement = sa.select(recs).where(*where).order_by(order, recs.c.id)
    rows, total = await paginate(conn, statement, page)
    totals = await conn.execute(
        sa.select(recs.c.currency, money_sum(recs.c.estimated_monthly_saving, dialect))
        .where(*where)
        .group_by(recs.c.currency)
    )
    return rows, total, {currency: amount or ZERO for currency, amount in totals}


async def get_recommendation(conn: AsyncConnection, recommendation_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(recs).where(recs.c.id == recommendation_id))).mappings().first()
    return dict(row) if row else None


async def set_status(conn: AsyncConnection, recommendation_id: int, values: dict[str, Any]) -> None:
    await conn.execute(sa.update(recs).where(recs.c.id == recommendation_id).values(values))


async def open_totals(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Open recommendations by type and currency: how many and their monthly saving."""
    dialect = conn.dialect.name
    statement = (
        sa.select(
            recs.c.type,
            recs.c.currency,
            sa.func.count().label("count"),
            money_sum(recs.c.estimated_monthly_saving, dialect).label("saving"),
        )
        .where(recs.c.status == "open")
        .group_by(recs.c.type, recs.c.currency)
    )
    return [dict(r) for r in (await conn.execute(statement)).mappings()]


# -- utilization -----------------------------------------------------------------------------------------------


async def upsert_utilization(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    """Store the latest utilization of (resource_id, metric), replacing an earlier one."""
    insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(resource_utilization)
    updated = {k: insert.excluded[k] for k in values if k not in ("resource_id", "metric")}
    await conn.execute(
        insert.values(values).on_conflict_do_update(index_elements=["resource_id", "metric"], set_=updated)
    )
    u = resource_utilization.c
    row = (
        (
            await conn.execute(
                sa.select(resource_utilization).where(
                    u.resource_id == values["resource_id"], u.metric == values["metric"]
                )
            )
        )
        .mappings()
        .one()
    )
    return dict(row)


async def utilization_for(conn: AsyncConnection, resource_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{resource_id: {metric: row}} for the given resources."""
    found: dict[str, dict[str, Any]] = {}
    ids = list(resource_ids)
    for chunk in range(0, len(ids), 1000):
        rows = await conn.execute(
            sa.select(resource_utilization).where(
                resource_utilization.c.resource_id.in_(ids[chunk : chunk + 1000])
            )
        )
        for row in rows.mappings():
            found.setdefault(row["resource_id"], {})[row["metric"]] = dict(row)
    return found
