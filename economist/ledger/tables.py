"""Core tables of the ledger (schema owned by migration 0003_economist) and the two dialect details every
query on them needs: exact money on SQLite (TEXT + a Decimal sum function) and the UTC day of a timestamp.

Money is NUMERIC(30,12) on PostgreSQL (FOCUS files carry up to 11 decimals) and TEXT on SQLite, because
SQLite's NUMERIC affinity would turn amounts into floats; `money_sum()` sums TEXT amounts as Decimal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.ledger.columns import LEDGER_COLUMNS, LedgerColumn

MONEY_PRECISION, MONEY_SCALE = 30, 12
QUANTITY_PRECISION, QUANTITY_SCALE = 38, 18
SQLITE_DSUM = "oco_dsum"


class ExactDecimal(sa.types.TypeDecorator):
    """NUMERIC(p, s) on PostgreSQL; on SQLite a TEXT column holding the Decimal's plain notation."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int = MONEY_PRECISION, scale: int = MONEY_SCALE) -> None:
        super().__init__(precision, scale, asdecimal=True)

    def load_dialect_impl(self, dialect: sa.Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(self.impl_instance)

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return format(Decimal(value), "f")

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))


def Money() -> ExactDecimal:  # noqa: N802 - reads like a type
    """A money column type."""
    return ExactDecimal(MONEY_PRECISION, MONEY_SCALE)


def Quantity() -> ExactDecimal:  # noqa: N802
    """A quantity column type (more decimals than money: usage can be fractions of a unit)."""
    return ExactDecimal(QUANTITY_PRECISION, QUANTITY_SCALE)


JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData()


def _ledger_column(column: LedgerColumn) -> sa.Column:
    if column.kind == "money":
        kind: Any = Money()
    elif column.kind == "quantity":
        kind = Quantity()
    elif column.kind == "datetime":
        kind = sa.DateTime(timezone=True)
    elif column.kind == "json":
        kind = JsonDocument
    else:
        kind = sa.Text()
    return sa.Column(column.name, kind, nullable=not column.required)


#: Billing line items have no surrogate key: a load is addressed by ingestion_id, and a per-row id (sequence
#: + B-tree) cost 16% of a bulk load's time (migration 0005).
cloud_costs = sa.Table(
    "cloud_costs",
    metadata,
    *(_ledger_column(c) for c in LEDGER_COLUMNS),
    sa.Column("tags_normalized", JsonDocument, nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("ingestion_id", sa.Integer, nullable=False),
)

#: The columns an ingestion writes, in COPY order.
INSERT_COLUMNS: tuple[str, ...] = tuple(c.name for c in cloud_costs.columns)

cloud_costs_daily = sa.Table(
    "cloud_costs_daily",
    metadata,
    sa.Column("ingestion_id", sa.Integer, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("billing_period_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("billing_account_id", sa.Text, nullable=False),  # '' when the source has none
    sa.Column("provider_name", sa.Text, nullable=False),
    sa.Column("service_name", sa.Text, nullable=True),
    sa.Column("account_id", sa.Text, nullable=True),  # COALESCE(sub_account_id, billing_account_id)
    sa.Column("region_id", sa.Text, nullable=True),
    sa.Column("billing_currency", sa.Text, nullable=False),
    sa.Column("charge_category", sa.Text, nullable=False),
    sa.Column("billed_cost", Money(), nullable=False),
    sa.Column("effective_cost", Money(), nullable=False),
    sa.Column("list_cost", Money(), nullable=True),
    sa.Column("contracted_cost", Money(), nullable=True),
    sa.Column("row_count", sa.Integer, nullable=False),
)

ingestions = sa.Table(
    "ingestions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("period_start", sa.Date, nullable=True),
    sa.Column("period_end", sa.Date, nullable=True),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("filename", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("replaced_rows", sa.BigInteger, nullable=False),
    sa.Column("totals", sa.JSON, nullable=False),
    sa.Column("slice", sa.JSON, nullable=True),
    sa.Column("rows_read", sa.BigInteger, nullable=False),
    sa.Column("bytes_read", sa.BigInteger, nullable=False),
    sa.Column("bytes_total", sa.BigInteger, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=True),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("owner", sa.String(64), nullable=True),  # the process running it (oco.runs)
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
)

fx_rates = sa.Table(
    "fx_rates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rate_date", sa.Date, nullable=False),
    sa.Column("base", sa.String(8), nullable=False),
    sa.Column("quote", sa.String(8), nullable=False),
    sa.Column("rate", Money(), nullable=False),
    sa.Column("source", sa.String(200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("base", "quote", "rate_date", name="uq_fx_rates_pair_date"),
)


# -- dialect details ------------------------------------------------------------------------------------


def _dsum(concatenated: str | None) -> str | None:
    """SQLite scalar: the exact sum of a group_concat() of TEXT amounts."""
    if concatenated is None:
        return None
    total = sum((Decimal(part) for part in str(concatenated).split(",") if part), Decimal(0))
    return format(total, "f")


def money_sum(column: Any, dialect: str) -> Any:
    """SUM(column) as an exact Decimal on both back ends (NULL when every value is NULL)."""
    if dialect == "sqlite":
        return sa.type_coerce(sa.func.oco_dsum(sa.func.group_concat(column)), Money())
    return sa.type_coerce(sa.func.sum(column), Money())


def money_sum_over(column: Any, dialect: str) -> Any:
    """SUM(column) OVER () (the whole result) as an exact Decimal."""
    if dialect == "sqlite":
        return sa.type_coerce(sa.func.oco_dsum(sa.func.group_concat(column).over()), Money())
    return sa.type_coerce(sa.func.sum(column).over(), Money())


def money_order(expression: Any, dialect: str) -> Any:
    """An ORDER BY key for a money expression (SQLite stores text, so it sorts by its numeric value)."""
    if dialect == "sqlite":
        return sa.cast(expression, sa.Float)  # ordering only; values are read as Decimal
    return expression


def utc_day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, as a DATE (PostgreSQL) or 'YYYY-MM-DD' text (SQLite)."""
    if dialect == "sqlite":
        return sa.func.date(column)
    # a literal, not a bound parameter: the same expression in SELECT and GROUP BY must be identical text
    return sa.cast(sa.func.timezone(sa.literal_column("'UTC'"), column), sa.Date)


#: '' as SQL text (not a parameter), for COALESCE(...) that also appears in GROUP BY
EMPTY_TEXT: sa.ColumnClause[str] = sa.literal_column("''")


def _register_sqlite_functions(sync_conn: sa.Connection) -> None:
    fairy = sync_conn.connection
    if not fairy.info.get(SQLITE_DSUM):
        assert fairy.dbapi_connection is not None  # a checked-out connection is open
        fairy.dbapi_connection.create_function(SQLITE_DSUM, 1, _dsum, deterministic=True)
        fairy.info[SQLITE_DSUM] = True


async def prepare_connection(conn: AsyncConnection) -> None:
    """Make the ledger's SQL functions available on this connection (a no-op on PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        await conn.run_sync(_register_sqlite_functions)
