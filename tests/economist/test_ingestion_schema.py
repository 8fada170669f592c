"""The migrated schema matches economist's Core tables (so repository SQL and migration cannot drift), every
ledger column has a home, and money is exact on both back ends (SQLite keeps it as text, summed as Decimal)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from economist.ledger.columns import LEDGER_COLUMNS
from economist.ledger.tables import fx_rates, metadata, money_sum, prepare_connection
from oco.timeutil import utcnow


async def test_migration_matches_the_core_tables(database) -> None:  # type: ignore[no-untyped-def]
    def inspect(conn):  # type: ignore[no-untyped-def]
        inspector = sa.inspect(conn)
        return {
            name: {c["name"]: c["nullable"] for c in inspector.get_columns(name)} for name in metadata.tables
        }

    async with database.engine.connect() as conn:
        migrated = await conn.run_sync(inspect)
    for name, table in metadata.tables.items():
        declared = {c.name: c.nullable for c in table.columns}
        if name in ("ingestions", "fx_rates"):
            declared["id"] = False
        assert migrated[name] == declared, name
    assert {c.name for c in LEDGER_COLUMNS} <= set(migrated["cloud_costs"])


async def test_money_is_exact(database) -> None:  # type: ignore[no-untyped-def]
    base = "M" + uuid.uuid4().hex[:6].upper().translate(str.maketrans("0123456789", "GHIJKLMNOP"))
    amounts = [Decimal("0.00000080000"), Decimal("12345678.123456789012"), Decimal("-0.1"), Decimal("0.2")]
    rows = [
        {"rate_date": date(2026, 1, i + 1), "base": base, "quote": "USD", "rate": a, "created_at": utcnow()}
        for i, a in enumerate(amounts)
    ]
    async with database.engine.begin() as conn:
        await conn.execute(sa.insert(fx_rates), rows)
    async with database.engine.connect() as conn:
        await prepare_connection(conn)
        stored = (
            (
                await conn.execute(
                    sa.select(fx_rates.c.rate).where(fx_rates.c.base == base).order_by(fx_rates.c.rate_date)
                )
            )
            .scalars()
            .all()
        )
        total = (
            await conn.execute(
                sa.select(money_sum(fx_rates.c.rate, database.dialect)).where(fx_rates.c.base == base)
            )
        ).scalar_one()
    assert stored == amounts and all(isinstance(v, Decimal) for v in stored)
    assert total == sum(amounts) == Decimal("12345678.223457589012")
