"""SQL of cost_budgets and cost_budget_alerts: CRUD, and the insert-once of a crossed threshold (the unique
key budget + period (start, end) + percent + basis makes a second insert a no-op on both back ends)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.budgets.tables import cost_budget_alerts, cost_budgets
from oco.pagination import PageParams, paginate


async def insert_budget(conn: AsyncConnection, **values: Any) -> int:
    result = await conn.execute(sa.insert(cost_budgets).values(**values).returning(cost_budgets.c.id))
    return int(result.scalar_one())


async def get_budget(conn: AsyncConnection, budget_id: int) -> dict[str, Any] | None:
    statement = sa.select(cost_budgets).where(cost_budgets.c.id == budget_id)
    row = (await conn.execute(statement)).mappings().first()
    return dict(row) if row else None


async def name_taken(conn: AsyncConnection, name: str, *, other_than: int | None = None) -> bool:
    statement = sa.select(cost_budgets.c.id).where(cost_budgets.c.name == name)
    if other_than is not None:
        statement = statement.where(cost_budgets.c.id != other_than)
    return (await conn.execute(statement)).first() is not None


async def page_budgets(conn: AsyncConnection, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of budgets by name, and how many there are."""
    return await paginate(conn, sa.select(cost_budgets).order_by(cost_budgets.c.name), page)


async def all_budgets(conn: AsyncConnection, ids: list[int] | None = None) -> list[dict[str, Any]]:
    statement = sa.select(cost_budgets).order_by(cost_budgets.c.id)
    if ids is not None:
        statement = statement.where(cost_budgets.c.id.in_(ids))
    return [dict(r) for r in (await conn.execute(statement)).mappings()]


async def update_budget(conn: AsyncConnection, budget_id: int, **values: Any) -> bool:
    statement = sa.update(cost_budgets).where(cost_budgets.c.id == budget_id).values(**values)
    return bool((await conn.execute(statement)).rowcount)


async def delete_budget(conn: AsyncConnection, budget_id: int) -> bool:
    """Delete a budget and its alerts (explicitly: SQLite does not enforce ON DELETE CASCADE by default)."""
    await conn.execute(sa.delete(cost_budget_alerts).where(cost_budget_alerts.c.budget_id == budget_id))
    result = await conn.execute(sa.delete(cost_budgets).where(cost_budgets.c.id == budget_id))
    return bool(result.rowcount)


async def alerts_of_period(
    conn: AsyncConnection, budget_id: int, period_start: date, period_end: date
) -> list[dict[str, Any]]:
    """The thresholds a budget has alerted on in the period [period_start, period_end)."""
    statement = (
        sa.select(cost_budget_alerts)
        .where(
            cost_budget_alerts.c.budget_id == budget_id,
            cost_budget_alerts.c.period_start == period_start,
            cost_budget_alerts.c.period_end == period_end,
        )
        .order_by(cost_budget_alerts.c.id)
    )
    return [dict(r) for r in (await conn.execute(statement)).mappings()]


async def record_alert_once(conn: AsyncConnection, **values: Any) -> bool:
    """Insert a crossed threshold unless it is recorded already; True when this call recorded it. The one
    dialect-specific statement of budgets: INSERT ... ON CONFLICT DO NOTHING (PostgreSQL and SQLite)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(cost_budget_alerts)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["budget_id", "period_start", "period_end", "percent", "basis"]
        )
        .returning(cost_budget_alerts.c.id)
    )
    return (await conn.execute(statement)).first() is not None
