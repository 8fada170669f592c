"""`oco economist budget-create`, `budgets`, `budget` and `allocation` through the real `oco` command against
the economist app served by uvicorn on loopback: tables show the API's decimal strings, `--json` is the
API's answer alone."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import httpx
from typer.testing import CliRunner

from oco.cli import app
from oco.timeutil import utcnow
from tests.economist.test_cli_costs import economist  # noqa: F401 - the served service fixture
from tests.economist.test_costs_queries import focus_csv


def upload(url: str, key: str, rows: list[dict]) -> None:
    response = httpx.post(
        f"{url}/api/v1/ingestions/upload",
        content=focus_csv(rows),
        params={"filename": f"cli-{uuid.uuid4().hex[:8]}.csv"},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def test_budget_commands(economist) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    url, key = economist
    common = ["--url", url, "--api-key", key]
    runner = CliRunner(env={"COLUMNS": "250"})
    provider = f"CliBud-{uuid.uuid4().hex[:8]}"
    today = utcnow().date()
    upload(
        url,
        key,
        [
            {
                "provider": provider,
                "day": today,
                "service": "S",
                "cost": Decimal("12.5"),
                "tags": {"team": "x"},
            }
        ],
    )
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = runner.invoke(
        app,
        ["economist", "budget-create", "--name", name, "--amount", "50", "--provider", provider,
         "--tag", "team=x", "--threshold", "20:actual", "--threshold", "90:forecast", "--json", *common],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    budget = json.loads(created.stdout)
    assert budget["scope"]["tag"] == {"team": "x"} and budget["thresholds"][0] == {
        "percent": 20,
        "on": "actual",
    }

    listed = runner.invoke(app, ["economist", "budgets", "--limit", "1000", *common])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if name in line)
    assert "12.500000" in row and "50.000000 USD" in row and "25.0%" in row and "20% actual" in row

    one = runner.invoke(app, ["economist", "budget", str(budget["id"]), "--json", *common])
    assert one.exit_code == 0, one.output
    assert (
        json.loads(one.stdout)["spent"] == "12.500000"
        and json.loads(one.stdout)["as_of"] == today.isoformat()
    )
    text = runner.invoke(app, ["economist", "budget", str(budget["id"]), *common])
    assert (
        "spent 12.500000 of 50.000000 USD" in text.stdout
        and "20% on actual (10.000000): alerted" in text.stdout
    )

    bad = runner.invoke(app, ["economist", "budget-create", "--name", name, "--amount", "-1", *common])
    assert bad.exit_code == 1 and "422" in bad.stderr and "amount" in bad.stderr
    missing = runner.invoke(app, ["economist", "budget", "2147483647", *common])
    assert missing.exit_code == 1 and "404" in missing.stderr


def test_allocation_command(economist) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    url, key = economist
    common = ["--url", url, "--api-key", key]
    runner = CliRunner(env={"COLUMNS": "250"})
    provider = f"CliAlloc-{uuid.uuid4().hex[:8]}"
    day = date(2026, 9, 2)
    upload(url, key, [
        {"provider": provider, "day": day, "service": "S", "cost": Decimal("3"), "tags": {"team": "x"}},
        {"provider": provider, "day": day, "service": "S", "cost": Decimal("1"), "tags": {"team": "y"}},
        {"provider": provider, "day": day, "service": "S", "cost": Decimal("0.000002"), "tags": {}},
    ])  # fmt: skip
    query = [
        "--by",
        "tag:team",
        "--start",
        "2026-09-01",
        "--end",
        "2026-10-01",
        "--filter",
        f"provider:{provider}",
    ]
    table = runner.invoke(app, ["economist", "allocation", *query, "--shared", "even", *common])
    assert table.exit_code == 0, table.output
    assert any("x" in line and "3.000001" in line for line in table.stdout.splitlines()), table.stdout
    assert any("y" in line and "1.000001" in line for line in table.stdout.splitlines()), table.stdout
    assert "total 4.000002 USD" in table.stdout
    as_json = runner.invoke(app, ["economist", "allocation", *query, "--shared", "none", "--json", *common])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["unallocated"] == "0.000002"
