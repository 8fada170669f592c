"""`oco demo load` through the real `oco` command (typer's runner) on a fresh embedded database in a temp
data dir: it prints the sample's charge period and billed cost per provider, and a second load replaces
the first (the ledger holds the sample once)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from economist.ledger.tables import cloud_costs, ingestions
from oco.cli import app
from oco.db import Database

SAMPLE_TOTALS = {"AWS": "18.006639", "Microsoft": "1.976514", "Oracle": "0.537074"}


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty data dir whose embedded SQLite is the database `oco` uses (nothing else is configured)."""
    for name in ("OCO_DATABASE_URL", "POSTGRES_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OCO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no .env of the checkout is read
    return tmp_path / "data"


def ledger(data_dir: Path) -> tuple[dict[str, Decimal], int, list[tuple]]:
    """Billed cost per provider and row count straight from the ledger, and the ingestion records."""

    async def read() -> tuple[dict[str, Decimal], int, list[tuple]]:
        database = Database(f"sqlite+aiosqlite:///{data_dir / 'oco.db'}", pool_size=1)
        try:
            async with database.engine.connect() as conn:
                by_provider = (
                    await conn.execute(
                        sa.select(
                            cloud_costs.c.provider_name,
                            sa.func.count(),
                            sa.func.sum(cloud_costs.c.billed_cost),
                        ).group_by(cloud_costs.c.provider_name)
                    )
                ).all()
                records = (
                    await conn.execute(
                        sa.select(
                            ingestions.c.status, ingestions.c.period_start, ingestions.c.period_end
                        ).order_by(ingestions.c.id)
                    )
                ).all()
        finally:
            await database.dispose()
        totals = {name: Decimal(str(total)).quantize(Decimal("0.000001")) for name, _, total in by_provider}
        return totals, sum(count for _, count, _ in by_provider), [tuple(r) for r in records]

    return asyncio.run(read())


def test_demo_load_prints_the_period_and_totals_and_a_second_load_replaces_the_first(data_dir: Path) -> None:
    first = CliRunner().invoke(app, ["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "1,000 rows" in first.stdout
    assert "charge period: 2024-09-01 to 2024-10-01" in first.stdout
    assert "billed cost per provider (USD)" in first.stdout
    for name, total in SAMPLE_TOTALS.items():
        assert f"{name}  " in first.stdout and total in first.stdout
    assert "20.520227" in first.stdout

    second = CliRunner().invoke(app, ["demo", "load", "--json"])
    assert second.exit_code == 0, second.output
    body = json.loads(second.stdout)
    assert body["period"] == {"start": "2024-09-01", "end": "2024-10-01"}
    assert body["metric"] == "billed" and body["currency"] == "USD"
    assert body["by_provider"] == SAMPLE_TOTALS
    assert body["rows"] == 1000 and body["replaced_rows"] == 1000

    totals, rows, records = ledger(data_dir)
    assert rows == 1000  # loaded twice, held once
    assert {name: str(total) for name, total in totals.items()} == SAMPLE_TOTALS
    assert [status for status, _, _ in records] == ["succeeded", "succeeded"]
    assert {(str(start), str(end)) for _, start, end in records} == {("2024-09-01", "2024-10-01")}
