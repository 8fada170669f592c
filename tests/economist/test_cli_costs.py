"""`oco economist costs`, `ingestions` and `ingestion` through the real `oco` command against the economist
app served by uvicorn on loopback (real HTTP), on data loaded with `oco economist ingest`: the table shows
the API's decimal strings, `--json` is the API's answer alone, ingestion records show their charge period."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from typer.testing import CliRunner

from economist.app import create_app
from economist.cli import period_note
from economist.settings import EconomistSettings
from oco.auth import KeyStore
from oco.cli import app
from oco.db import Database
from tests.economist.test_costs_queries import focus_csv
from tests.oco.loopback import served


def make_key(url: str, scopes: list[str]) -> str:
    async def run() -> str:
        database = Database(url, pool_size=1)
        try:
            return (await KeyStore(database).create(f"cli-{uuid.uuid4().hex[:8]}", scopes)).plaintext
        finally:
            await database.dispose()

    return asyncio.run(run())


@pytest.fixture
def economist(settings, database_url, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """The economist service on loopback, a key for it, and the CLI's environment (same database)."""
    monkeypatch.setenv("OCO_DATABASE_URL", database_url)
    monkeypatch.delenv("OCO_API_KEY", raising=False)
    monkeypatch.delenv("OCO_ECONOMIST_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    key = make_key(database_url, ["economist"])
    with served(create_app(EconomistSettings(_env_file=None, **settings.model_dump()))) as url:
        yield url, key


def load(tmp_path, provider: str) -> str:  # type: ignore[no-untyped-def]
    """Every day of February 2026 for two services of `provider`, ingested by the CLI for February (so
    the charge period it covered is the period asked for); its output."""
    rows = [
        {
            "provider": provider,
            "day": date(2026, 2, 1) + timedelta(days=i),
            "service": service,
            "cost": Decimal("1.25") * (i + 1) + extra,
        }
        for i in range(28)
        for service, extra in (("Compute", Decimal("0.000001")), ("Storage", Decimal("2")))
    ]
    path = tmp_path / "feb.csv"
    path.write_bytes(focus_csv(rows))
    result = CliRunner().invoke(
        app, ["economist", "ingest", str(path), "--start", "2026-02-01", "--end", "2026-03-01"]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_costs_table_and_json(economist, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, key = economist
    provider = f"Cli-{uuid.uuid4().hex[:8]}"
    ingested = load(tmp_path, provider)
    assert "succeeded: 56 rows" in ingested
    assert "period 2026-02-01 to 2026-03-01 (end exclusive)" in ingested

    query = ["--start", "2026-02-01", "--end", "2026-03-01", "--filter", f"provider:{provider}"]
    common = ["--url", url, "--api-key", key]
    runner = CliRunner(env={"COLUMNS": "200"})
    table = runner.invoke(app, ["economist", "costs", *query, "--group-by", "service", *common])
    assert table.exit_code == 0, table.output
    compute = sum(Decimal("1.25") * (i + 1) + Decimal("0.000001") for i in range(28))
    storage = sum(Decimal("1.25") * (i + 1) + Decimal("2") for i in range(28))
    lines = table.stdout.splitlines()
    assert any("Compute" in line and f"{compute:.6f}" in line for line in lines), table.stdout
    assert any("Storage" in line and f"{storage:.6f}" in line for line in lines), table.stdout
    assert f"total {compute + storage:.6f} USD (billed)" in table.stdout

    as_json = runner.invoke(
        app,
        ["economist", "costs", *query, "--group-by", "service", "--granularity", "month", "--json", *common],
    )
    assert as_json.exit_code == 0, as_json.output
    api = httpx.get(
        f"{url}/api/v1/costs",
        params={
            "from": "2026-02-01",
            "to": "2026-03-01",
            "filter": f"provider:{provider}",
            "group_by": "service",
            "granularity": "month",
        },
        headers={"X-API-Key": key},
    ).json()
    assert json.loads(as_json.stdout) == api
    assert {(r["period"], r["service"], r["cost"]) for r in api["rows"]} == {
        ("2026-02-01", "Compute", f"{compute:.6f}"),
        ("2026-02-01", "Storage", f"{storage:.6f}"),
    }

    bad = runner.invoke(app, ["economist", "costs", "--group-by", "colour", *common])
    assert bad.exit_code == 1 and "400" in bad.stderr


def test_ingestion_records_show_their_period(economist, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, key = economist
    ingestion_id = int(load(tmp_path, f"Cli-{uuid.uuid4().hex[:8]}").split()[1])
    common = ["--url", url, "--api-key", key]
    runner = CliRunner(env={"COLUMNS": "200"})
    listed = runner.invoke(app, ["economist", "ingestions", "--source", "focus", "--json", *common])
    assert listed.exit_code == 0, listed.output
    newest = next(r for r in json.loads(listed.stdout)["items"] if r["id"] == ingestion_id)
    assert newest["period"] == {"start": "2026-02-01", "end": "2026-03-01"}

    table = runner.invoke(app, ["economist", "ingestions", "--limit", "5", *common])
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if line.strip("│ ").startswith(f"{ingestion_id} "))
    assert "2026-02-01 to 2026-03-01" in row and "succeeded" in row

    one = runner.invoke(app, ["economist", "ingestion", str(newest["id"]), *common])
    assert one.exit_code == 0, one.output
    assert f"ingestion {newest['id']} (focus) succeeded: 56 rows" in one.stdout
    assert "period 2026-02-01 to 2026-03-01 (end exclusive)" in one.stdout
    assert (
        json.loads(
            runner.invoke(app, ["economist", "ingestion", str(newest["id"]), "--json", *common]).stdout
        )
        == newest
    )

    missing = runner.invoke(app, ["economist", "ingestion", "999999999", *common])
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_a_refused_key_says_where_it_came_from(economist) -> None:  # type: ignore[no-untyped-def]
    url, _ = economist
    runner = CliRunner(env={"OCO_API_KEY": "oco_not_a_key", "OCO_ECONOMIST_URL": url, "COLUMNS": "300"})
    refused = runner.invoke(app, ["economist", "costs"])
    assert refused.exit_code == 1
    assert (
        f"401 from {url}: the API key from OCO_API_KEY was refused "
        "(tried --api-key: not given, OCO_API_KEY: set)"
    ) in refused.stderr
    assert "oco_not_a_key" not in refused.output


def test_the_period_note_reads_either_record_shape_and_is_empty_without_one() -> None:
    note = ", period 2026-02-01 to 2026-03-01 (end exclusive)"
    assert period_note({"period": {"start": "2026-02-01", "end": "2026-03-01"}}) == note  # the API's record
    assert period_note({"period_start": date(2026, 2, 1), "period_end": date(2026, 3, 1)}) == note  # the row
    assert period_note({"period": None}) == ""
    assert period_note({"period_start": None, "period_end": None}) == ""
