"""SQL of ingestion: `ingestions` records, the bulk write of ledger rows (COPY on PostgreSQL, executemany on
SQLite), the slice replacement and the daily rollup. Every function takes the caller's connection, so the
caller decides what shares one transaction."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.ingestion.slices import LedgerSlice, day_start
from economist.ledger.tables import (
    EMPTY_TEXT,
    INSERT_COLUMNS,
    cloud_costs,
    cloud_costs_daily,
    ingestions,
    money_sum,
    utc_day,
)
from oco.pagination import PageParams, paginate
from oco.timeutil import utcnow

#: pg_advisory_xact_lock key held while a finished ingestion replaces its slice and writes its rollup.
LEDGER_LOCK_KEY = 0x0C0_EC0_0003
_JSON_COLUMNS = frozenset({"tags", "tags_normalized"})


# -- ingestion records ----------------------------------------------------------------------------------


async def create_ingestion(
    conn: AsyncConnection,
    *,
    source: str,
    status: str,
    period: tuple[Any, Any] | None,
    options: dict[str, Any],
    filename: str | None,
    created_by: str | None,
) -> int:
    """Insert an ingestion record and return its id."""
    now = utcnow()
    result = await conn.execute(
        sa.insert(ingestions)
        .values(
            source=source,
            status=status,
            period_start=period[0] if period else None,
            period_end=period[1] if period else None,
            options=options,
            filename=filename,
            created_by=created_by,
            row_count=0,
            replaced_rows=0,
            totals={},
            slice=None,
            rows_read=0,
            bytes_read=0,
            bytes_total=None,
            errors=[],
            created_at=now,
            started_at=now if status == "running" else None,
        )
        .returning(ingestions.c.id)
    )
    return int(result.scalar_one())


async def update_ingestion(conn: AsyncConnection, ingestion_id: int, **values: Any) -> None:
    """Set columns of one ingestion record."""
    await conn.execute(sa.update(ingestions).where(ingestions.c.id == ingestion_id).values(**values))


async def hold_running(conn: AsyncConnection, ingestion_id: int, owner: str | None) -> bool:
    """Lock the record for the caller's transaction if it is still running under `owner`; False when it is
    not (another process marked it finished, e.g. reaped as interrupted): the caller must not publish."""
    mine = ingestions.c.owner.is_(None) if owner is None else ingestions.c.owner == owner
    result = await conn.execute(
        sa.update(ingestions)
        .where(ingestions.c.id == ingestion_id, ingestions.c.status == "running", mine)
        .values(status="running")
    )
    return int(result.rowcount or 0) == 1


async def get_ingestion(conn: AsyncConnection, ingestion_id: int) -> dict[str, Any] | None:
    """One ingestion record, or None."""
    row = (
        (await conn.execute(sa.select(ingestions).where(ingestions.c.id == ingestion_id))).mappings().first()
    )
    return dict(row) if row else None


async def list_ingestions(
    conn: AsyncConnection, page: PageParams, *, source: str | None, status: str | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of ingestion records, newest first, and the number of records matching."""
    where = []
    if source:
        where.append(ingestions.c.source == source)
    if status:
        where.append(ingestions.c.status == status)
    statement = sa.select(ingestions).where(*where).order_by(ingestions.c.id.desc())
    return await paginate(conn, statement, page)


async def fail_unfinished(conn: AsyncConnection, ids: Sequence[int], message: str) -> None:
    """Mark pending/running ingestions failed (used when the process stops under them)."""
    if not ids:
        return
    await conn.execute(
        sa.update(ingestions)
        .where(ingestions.c.id.in_(list(ids)), ingestions.c.status.in_(["pending", "running"]))
        .values(status="failed", errors=[{"message": message}], finished_at=utcnow())
    )


# -- ledger writes ----------------------------------------------------------------------------------------


class LedgerWriter:
    """Where an ingestion's rows wait until they are published, inside the caller's transaction.

    PostgreSQL: COPY (asyncpg `copy_records_to_table`) straight into cloud_costs; other sessions see
    nothing until commit. SQLite: executemany into a TEMP table, then one INSERT ... SELECT at publish, so
    SQLite's single database write lock is held only for the final move, not while the source is read.
    """

    def __init__(self, conn: AsyncConnection, ingestion_id: int) -> None:
        self.conn = conn
        self.postgresql = conn.dialect.name == "postgresql"
        self.stage: sa.Table | None = None
        if not self.postgresql:
            columns = [
                sa.Column(c.name, c.type, nullable=c.nullable) for c in cloud_costs.columns if c.name != "id"
            ]
            self.stage = sa.Table(
                f"stage_ingestion_{ingestion_id}", sa.MetaData(), *columns, prefixes=["TEMPORARY"]
            )

    async def start(self) -> None:
        """Open the transaction (asyncpg opens SQLAlchemy's lazily, and COPY bypasses SQLAlchemy) or the stage."""
        if self.postgresql:
            raw = await self.conn.get_raw_connection()
            if not cast(Any, raw.driver_connection).is_in_transaction():  # asyncpg's, on PostgreSQL
                await self.conn.execute(sa.text("SELECT 1"))
        else:
            assert self.stage is not None
            await self.conn.run_sync(self.stage.create)

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Append rows (dicts keyed by INSERT_COLUMNS)."""
        if not rows:
            return
        if self.postgresql:
            await _copy_rows(self.conn, rows)
        else:
            assert self.stage is not None
            await self.conn.execute(sa.insert(self.stage), rows)

    async def publish(self) -> None:
        """Move staged rows into cloud_costs (SQLite; a no-op on PostgreSQL)."""
        if self.stage is not None:
            columns = list(INSERT_COLUMNS)
            await self.conn.execute(
                sa.insert(cloud_costs).from_select(columns, sa.select(*(self.stage.c[n] for n in columns)))
            )

    async def discard(self) -> None:
        """Drop the stage (SQLite creates TEMP tables outside the transaction, so rollback keeps them)."""
        if self.stage is not None:
            await self.conn.execute(sa.text(f'DROP TABLE IF EXISTS temp."{self.stage.name}"'))
            await self.conn.commit()


_ROW_VALUES = operator.itemgetter(*INSERT_COLUMNS)
_JSON_POSITIONS = tuple(i for i, name in enumerate(INSERT_COLUMNS) if name in _JSON_COLUMNS)


async def _copy_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    dumps = orjson.dumps
    records = []
    for row in rows:
        record = list(_ROW_VALUES(row))
        for index in _JSON_POSITIONS:
            value = record[index]
            record[index] = None if value is None else dumps(value).decode()
        records.append(record)
    raw = await conn.get_raw_connection()
    await cast(Any, raw.driver_connection).copy_records_to_table(  # asyncpg's
        cloud_costs.name, records=records, columns=list(INSERT_COLUMNS)
    )


async def lock_ledger(conn: AsyncConnection) -> None:
    """Serialize slice replacement between concurrent ingestions (PostgreSQL; SQLite has one writer)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LEDGER_LOCK_KEY)))


async def overlapping_ingestions(
    conn: AsyncConnection, new_id: int, ledger_slice: LedgerSlice
) -> dict[str, list[int]]:
    """Ids of earlier succeeded ingestions this slice replaces part of, by how (LedgerSlice.replacement)."""
    rows = await conn.execute(
        sa.select(ingestions.c.id, ingestions.c.slice).where(
            ingestions.c.source == ledger_slice.source,
            ingestions.c.status == "succeeded",
            ingestions.c.id != new_id,
            ingestions.c.slice.is_not(None),
        )
    )
    found: dict[str, list[int]] = {"same": [], "newer": []}
    for row in rows:
        how = ledger_slice.replacement(LedgerSlice.from_json(row.slice))
        if how is not None:
            found[how].append(row.id)
    return found


def _cells_clause(table: sa.Table, ledger_slice: LedgerSlice, account: Any) -> Any:
    return sa.or_(
        *(
            sa.and_(
                table.c.provider_name == provider,
                account == billing_account,
                table.c.billing_period_start == period_start,
            )
            for provider, billing_account, period_start in sorted(ledger_slice.cells)
        )
    )


async def replace_slice(conn: AsyncConnection, new_id: int, ledger_slice: LedgerSlice) -> int:
    """Delete what earlier ingestions hold inside this slice (ledger rows and their rollup rows): the same
    data again in its cells and window, a newer export only in the charge days it covers (slices.py);
    returns the number of ledger rows removed."""
    if not ledger_slice.cells:
        return 0
    earlier = await overlapping_ingestions(conn, new_id, ledger_slice)
    removed = 0
    for ids, days in (
        (earlier["same"], ledger_slice.window),
        (earlier["newer"], ledger_slice.replaced_days()),
    ):
        if ids:
            removed += await _delete_rows(conn, ids, ledger_slice, days)
    return removed


async def _delete_rows(
    conn: AsyncConnection, ids: list[int], ledger_slice: LedgerSlice, days: tuple[Any, Any] | None
) -> int:
    raw_where = [
        cloud_costs.c.ingestion_id.in_(ids),
        _cells_clause(
            cloud_costs, ledger_slice, sa.func.coalesce(cloud_costs.c.billing_account_id, EMPTY_TEXT)
        ),
    ]
    daily_where = [
        cloud_costs_daily.c.ingestion_id.in_(ids),
        _cells_clause(cloud_costs_daily, ledger_slice, cloud_costs_daily.c.billing_account_id),
    ]
    if days:
        raw_where += [
            cloud_costs.c.charge_period_start >= day_start(days[0]),
            cloud_costs.c.charge_period_start < day_start(days[1]),
        ]
        daily_where += [cloud_costs_daily.c.day >= days[0], cloud_costs_daily.c.day < days[1]]
    removed = await conn.execute(sa.delete(cloud_costs).where(*raw_where))
    await conn.execute(sa.delete(cloud_costs_daily).where(*daily_where))
    return int(removed.rowcount or 0)


async def build_rollup(conn: AsyncConnection, ingestion_id: int) -> None:
    """Add the daily rollup rows of one ingestion (its rows are in cloud_costs, same transaction)."""
    dialect = conn.dialect.name
    c = cloud_costs.c
    keys = [
        c.ingestion_id,
        utc_day(c.charge_period_start, dialect),
        c.billing_period_start,
        sa.func.coalesce(c.billing_account_id, EMPTY_TEXT),
        c.provider_name,
        c.service_name,
        sa.func.coalesce(c.sub_account_id, c.billing_account_id),
        c.region_id,
        c.billing_currency,
        c.charge_category,
    ]
    sums = [
        money_sum(c.billed_cost, dialect),
        money_sum(c.effective_cost, dialect),
        money_sum(c.list_cost, dialect),
        money_sum(c.contracted_cost, dialect),
        sa.func.count(),
    ]
    select = sa.select(*keys, *sums).where(c.ingestion_id == ingestion_id).group_by(*keys)
    names = [c.name for c in cloud_costs_daily.columns]  # the same order as keys + sums
    await conn.execute(sa.insert(cloud_costs_daily).from_select(names, select))
