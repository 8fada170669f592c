"""`oco cerebra spend|keys|budgets` through the real `oco` command against cerebra served on loopback (real
HTTP): spend shows the API's decimal strings and totals equal to the logged rows, keys are created once
shown, listed and revoked (and stop working), budgets are listed with their status."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from typer.testing import CliRunner

from oco.cli import app
from tests.cerebra.analytics_rows import insert, make_rows, window_start

runner = CliRunner()


@pytest.fixture
async def admin_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("admin"), ["admin"])).plaintext


@pytest.fixture
def served(default_gateway, admin_key, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OCO_API_KEY", raising=False)
    monkeypatch.delenv("OCO_CEREBRA_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return default_gateway().url, admin_key


def oco(*args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result


async def test_spend_table_and_json(served, database) -> None:  # type: ignore[no-untyped-def]
    url, key = served
    start = window_start()
    rows = make_rows(start, 200, seed=7)
    await insert(database, rows)
    window = ["--from", start.date().isoformat(), "--to", (start + timedelta(days=2)).date().isoformat()]
    total = sum((r["cost_usd"] or Decimal(0) for r in rows), Decimal(0))

    as_json = json.loads(
        oco(
            "cerebra", "spend", "--group-by", "team", *window, "--json", "--url", url, "--api-key", key
        ).stdout
    )
    assert Decimal(as_json["total_cost"]) == total and as_json["group_by"] == "team"
    teams = {r["team_id"] for r in rows}
    assert {row["team"] for row in as_json["rows"]} == teams

    table = oco("cerebra", "spend", *window, "--granularity", "day", "--url", url, "--api-key", key).stdout
    assert f"total {total:.6f} USD, {len(rows)} requests" in table
    for row in json.loads(
        oco(
            "cerebra", "spend", *window, "--granularity", "day", "--json", "--url", url, "--api-key", key
        ).stdout
    )["rows"]:
        assert row["cost"] in table


def test_keys_create_list_revoke(served, unique) -> None:  # type: ignore[no-untyped-def]
    url, admin = served
    name = unique("cli-app")
    created = oco(
        "cerebra",
        "keys",
        "create",
        "--name",
        name,
        "--scope",
        "cerebra",
        "--team",
        "search",
        "--model",
        "demo",
        "--url",
        url,
        "--api-key",
        admin,
    )
    new_key = created.stdout.strip()
    assert new_key.startswith("oco_")
    listed = json.loads(
        oco("cerebra", "keys", "list", "--limit", "1000", "--json", "--url", url, "--api-key", admin).stdout
    )
    (mine,) = [k for k in listed["items"] if k["name"] == name]
    assert mine["team"] == "search" and mine["models"] == ["demo"] and new_key not in json.dumps(listed)
    assert name in oco("cerebra", "keys", "list", "--limit", "1000", "--url", url, "--api-key", admin).stdout

    models = httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {new_key}"})
    assert models.status_code == 200
    assert (
        f"key {mine['id']} revoked"
        in oco("cerebra", "keys", "revoke", str(mine["id"]), "--url", url, "--api-key", admin).stdout
    )
    listed = json.loads(
        oco("cerebra", "keys", "list", "--limit", "1000", "--json", "--url", url, "--api-key", admin).stdout
    )
    assert [k["status"] for k in listed["items"] if k["id"] == mine["id"]] == ["revoked"]
    again = runner.invoke(
        app, ["cerebra", "keys", "revoke", str(mine["id"]), "--url", url, "--api-key", admin]
    )
    assert again.exit_code == 1 and "404" in again.output


def test_budgets_list_and_status(served, unique) -> None:  # type: ignore[no-untyped-def]
    url, admin = served
    team = unique("team")
    body = {
        "scope": "team",
        "scope_id": team,
        "period": "monthly",
        "limit_usd": "12.50",
        "thresholds": [0.5, 1.0],
    }
    made = httpx.post(url + "/api/v1/budgets", headers={"X-API-Key": admin}, json=body)
    assert made.status_code == 201, made.text
    listed = oco(
        "cerebra", "budgets", "list", "--scope", "team", "--scope-id", team, "--url", url, "--api-key", admin
    ).stdout
    assert team in listed and "12.500000" in listed and "1 of 1 budgets" in listed
    status = json.loads(
        oco(
            "cerebra",
            "budgets",
            "status",
            "--scope",
            "team",
            "--scope-id",
            team,
            "--json",
            "--url",
            url,
            "--api-key",
            admin,
        ).stdout
    )
    assert status["limit_usd"] == "12.500000" and status["spent_usd"] == "0.000000"
    shown = oco(
        "cerebra",
        "budgets",
        "status",
        "--scope",
        "team",
        "--scope-id",
        team,
        "--url",
        url,
        "--api-key",
        admin,
    ).stdout
    assert "12.500000 USD remaining" in shown


def test_a_key_without_admin_is_refused_clearly(served, keystore) -> None:  # type: ignore[no-untyped-def]
    url, _admin = served
    result = runner.invoke(app, ["cerebra", "spend", "--url", url, "--api-key", "oco_not-a-real-key"])
    assert result.exit_code == 1 and "401" in result.output
