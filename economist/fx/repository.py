"""SQL of fx_rates: upsert (ON CONFLICT on both back ends), list, and the rates a conversion needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.ledger.tables import fx_rates
from oco.pagination import PageParams, paginate
from oco.timeutil import utcnow


async def upsert_rates(conn: AsyncConnection, rates: Sequence[dict[str, Any]], source: str | None) -> int:
    """Insert or replace rates keyed by (base, quote, rate_date); returns how many were written."""
    if not rates:
        return 0
    now = utcnow()
    values = [{**r, "source": source, "created_at": now} for r in rates]
    insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(fx_rates)
    statement = insert.on_conflict_do_update(
        index_elements=["base", "quote", "rate_date"],
        set_={
            "rate": insert.excluded.rate,
            "source": insert.excluded.source,
            "created_at": insert.excluded.created_at,
        },
    )
    await conn.execute(statement, values)
    return len(values)


async def list_rates(
    conn: AsyncConnection,
    *,
    base: str | None,
    quote: str | None,
    start: date | None,
    end: date | None,
    page: PageParams,
) -> tuple[list[dict[str, Any]], int]:
    """A page of rates ordered by pair and date, and the number matching."""
    where = []
    if base:
        where.append(fx_rates.c.base == base)
    if quote:
        where.append(fx_rates.c.quote == quote)
    if start:
        where.append(fx_rates.c.rate_date >= start)
    if end:
        where.append(fx_rates.c.rate_date < end)
    statement = (
        sa.select(fx_rates).where(*where).order_by(fx_rates.c.base, fx_rates.c.quote, fx_rates.c.rate_date)
    )
    return await paginate(conn, statement, page)


async def rates_between(
    conn: AsyncConnection, currencies: Iterable[str], target: str, until: date
) -> list[dict[str, Any]]:
    """Every rate dated on/before `until` that converts one of `currencies` to `target` or back."""
    others = sorted(set(currencies) - {target})
    if not others:
        return []
    c = fx_rates.c
    rows = await conn.execute(
        sa.select(c.base, c.quote, c.rate_date, c.rate)
        .where(
            sa.or_(
                sa.and_(c.base.in_(others), c.quote == target),
                sa.and_(c.base == target, c.quote.in_(others)),
            ),
            c.rate_date <= until,
        )
        .order_by(c.rate_date)
    )
    return [dict(r) for r in rows.mappings()]
