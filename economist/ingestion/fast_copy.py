"""SQL of the PostgreSQL fast path: COPY of CSV chunks made by pyarrow straight into cloud_costs (and of the
rollup aggregated on the way), and what the strict path learns row by row (totals per currency, slice cells)
read back from the ingestion's rollup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import IO, Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.ingestion.arrow_rollup import ROLLUP_COLUMNS, ROLLUP_SUMS
from economist.ingestion.slices import Cell
from economist.ledger.tables import cloud_costs, cloud_costs_daily
from economist.sources.focus_arrow import COPY_COLUMNS


async def open_transaction(conn: AsyncConnection) -> None:
    """Make SQLAlchemy open its (lazy) transaction on the asyncpg connection before a raw COPY."""
    raw = await conn.get_raw_connection()
    if not cast(Any, raw.driver_connection).is_in_transaction():  # asyncpg's
        await conn.execute(sa.text("SELECT 1"))


async def copy_csv(conn: AsyncConnection, chunks: AsyncIterator[bytes]) -> int:
    """COPY cloud_costs (COPY_COLUMNS) FROM STDIN (FORMAT csv), streaming chunks; returns the rows copied."""
    raw = await conn.get_raw_connection()
    status = await cast(Any, raw.driver_connection).copy_to_table(  # asyncpg's
        cloud_costs.name, source=chunks, columns=list(COPY_COLUMNS), format="csv"
    )
    return int(str(status).split()[-1])


async def copy_rollup(conn: AsyncConnection, rows_csv: IO[bytes], *, consolidate: bool) -> None:
    """COPY the rollup built by ArrowRollup (CSV in ROLLUP_COLUMNS order) into cloud_costs_daily.
    consolidate: it spilled, so a key may be on several rows: they go to a temporary table first and are
    summed into one row per key on the way in."""
    raw = cast(Any, (await conn.get_raw_connection()).driver_connection)  # asyncpg's
    columns = list(ROLLUP_COLUMNS)
    if not consolidate:
        await raw.copy_to_table(cloud_costs_daily.name, source=rows_csv, columns=columns, format="csv")
        return
    # partial sums may exceed the stored NUMERIC(30,12) where the final one does not: unbounded numeric here
    unbounded = ", ".join(f"ALTER {c} TYPE numeric" for c in ROLLUP_SUMS)
    await conn.execute(
        sa.text(f"CREATE TEMPORARY TABLE rollup_spill (LIKE {cloud_costs_daily.name}) ON COMMIT DROP")
    )
    await conn.execute(sa.text(f"ALTER TABLE rollup_spill {unbounded}"))
    await raw.copy_to_table("rollup_spill", source=rows_csv, columns=columns, format="csv")
    keys = ", ".join(c for c in ROLLUP_COLUMNS if c not in ROLLUP_SUMS)
    sums = ", ".join(f"sum({c})" for c in ROLLUP_SUMS)
    await conn.execute(
        sa.text(
            f"INSERT INTO {cloud_costs_daily.name} ({', '.join(ROLLUP_COLUMNS)}) "
            f"SELECT {keys}, {sums} FROM rollup_spill GROUP BY {keys}"
        )
    )


def total_text(total: Decimal) -> str:
    """A NUMERIC sum as plain text without the trailing zeros of the column's scale."""
    text = format(total, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


async def rollup_summary(
    conn: AsyncConnection, ingestion_id: int
) -> tuple[dict[str, Decimal], set[Cell], int]:
    """(billed cost per currency, slice cells, rows) of an ingestion whose rollup is built (same transaction)."""
    d = cloud_costs_daily.c
    mine = d.ingestion_id == ingestion_id
    totals = {
        currency: Decimal(total)
        for currency, total in await conn.execute(
            sa.select(d.billing_currency, sa.func.sum(d.billed_cost)).where(mine).group_by(d.billing_currency)
        )
    }
    cells: set[Cell] = {
        (provider, account, period)
        for provider, account, period in await conn.execute(
            sa.select(d.provider_name, d.billing_account_id, d.billing_period_start).where(mine).distinct()
        )
    }
    rows = (
        await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(d.row_count), 0)).where(mine))
    ).scalar_one()
    return totals, cells, int(rows)
