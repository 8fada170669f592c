"""`oco economist ingest` and `oco economist fx-load` through the real `oco` command (typer's runner), on the
test database: a file loads with its totals, a bad row exits 1 printing file:line: column, Cost Explorer
periods load under moto."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa
from moto import mock_aws
from typer.testing import CliRunner

from economist.ledger.tables import cloud_costs, fx_rates, ingestions
from oco.cli import app
from oco.db import Database
from tests.economist.test_costs_queries import focus_csv


@pytest.fixture
def cli_env(database_url, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OCO_DATABASE_URL", database_url)
    monkeypatch.setenv("OCO_ECONOMIST_CE_CACHE_DIR", str(tmp_path / "ce"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fetch(url: str, statement):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        database = Database(url, pool_size=1)
        try:
            async with database.engine.connect() as conn:
                return (await conn.execute(statement)).all()
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_ingest_a_file_then_a_bad_one(cli_env, database_url) -> None:  # type: ignore[no-untyped-def]
    provider = f"Cli-{uuid.uuid4().hex[:8]}"
    rows = [
        {
            "provider": provider,
            "day": date(2026, 2, 1) + timedelta(days=i),
            "service": "Compute",
            "cost": Decimal("1.5") * (i + 1),
        }
        for i in range(10)
    ]
    good = cli_env / "good.csv"
    good.write_bytes(focus_csv(rows))
    result = CliRunner().invoke(app, ["economist", "ingest", str(good)])
    assert result.exit_code == 0, result.output
    assert "succeeded: 10 rows (0 replaced), billed 82.500000 USD" in result.stdout
    (total,) = fetch(
        database_url,
        sa.select(sa.func.count(), sa.func.min(cloud_costs.c.source)).where(
            cloud_costs.c.provider_name == provider
        ),
    )
    assert tuple(total) == (10, "focus")

    lines = good.read_text().splitlines()
    lines[3] = lines[3].replace("2026-02-03T00:00:00Z", "yesterday-ish", 1)
    bad = cli_env / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    failed = CliRunner().invoke(app, ["economist", "ingest", str(bad)])
    assert failed.exit_code == 1
    assert "bad.csv:4: column ChargePeriodStart:" in failed.stderr
    (count,) = fetch(database_url, sa.select(sa.func.count()).where(cloud_costs.c.provider_name == provider))
    assert count[0] == 10
    last = fetch(
        database_url,
        sa.select(ingestions.c.status, ingestions.c.errors).order_by(ingestions.c.id.desc()).limit(1),
    )
    assert last[0].status == "failed" and last[0].errors[0]["line"] == 4

    missing = CliRunner().invoke(app, ["economist", "ingest", str(cli_env / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_fx_load(cli_env, database_url) -> None:  # type: ignore[no-untyped-def]
    code = "Q" + uuid.uuid4().hex[:5].upper().translate(str.maketrans("0123456789", "GHIJKLMNOP"))
    path = cli_env / "rates.csv"
    path.write_text(f"date,base,quote,rate\n2026-01-01,{code},USD,0.5\n")
    result = CliRunner().invoke(app, ["economist", "fx-load", str(path), "--source", "manual"])
    assert result.exit_code == 0, result.output
    rows = fetch(database_url, sa.select(fx_rates.c.rate, fx_rates.c.source).where(fx_rates.c.base == code))
    assert [(Decimal(r.rate), r.source) for r in rows] == [(Decimal("0.5"), "manual")]
    path.write_text("date,base,quote,rate\n2026-01-01,USD,USD,1\n")
    assert CliRunner().invoke(app, ["economist", "fx-load", str(path)]).exit_code == 1


def test_ingest_cost_explorer_period(cli_env, database_url) -> None:  # type: ignore[no-untyped-def]
    account = uuid.uuid4().hex[:12]
    day = {
        "TimePeriod": {"Start": "2023-06-01", "End": "2023-06-02"},
        "Total": {},
        "Groups": [
            {"Keys": ["Amazon EC2", account], "Metrics": {"UnblendedCost": {"Amount": "3.5", "Unit": "USD"}}}
        ],
        "Estimated": True,
    }
    with mock_aws():
        requests.post("http://motoapi.amazonaws.com/moto-api/reset", timeout=5)
        queued = requests.post(
            "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results",
            json={"results": [{"ResultsByTime": [day]}]},
            timeout=5,
        )
        assert queued.status_code == 201
        result = CliRunner().invoke(
            app,
            [
                "economist",
                "ingest",
                "--source",
                "aws_cost_explorer",
                "--start",
                "2023-06-01",
                "--end",
                "2023-06-02",
            ],
        )
    assert result.exit_code == 0, result.output
    rows = fetch(
        database_url,
        sa.select(cloud_costs.c.billed_cost, cloud_costs.c.source).where(
            cloud_costs.c.sub_account_id == account
        ),
    )
    assert [(r.billed_cost, r.source) for r in rows] == [(Decimal("3.5"), "aws_cost_explorer")]
    half = CliRunner().invoke(
        app, ["economist", "ingest", "--source", "aws_cost_explorer", "--start", "2023-06-01"]
    )
    assert half.exit_code != 0
