"""`oco economist policies|violations|policy-evaluate` through the real `oco` command against the economist
app served by uvicorn on loopback: tables and `--json` carry the API's values."""

from __future__ import annotations

import json

import httpx
from typer.testing import CliRunner

from oco.cli import app
from tests.economist.governance_helpers import focus_csv
from tests.economist.test_cli_costs import economist  # noqa: F401 - the fixture


def test_policies_violations_and_evaluate(economist, unique) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    url, key = economist
    provider = unique("P")
    name = unique("cli")
    with httpx.Client(base_url=url, headers={"X-API-Key": key}) as api:
        uploaded = api.post(
            "/api/v1/ingestions/upload",
            content=focus_csv([{"provider": provider, "resource": "vm-cli", "cost": "42"}]),
            params={"filename": unique("cli") + ".csv"},
        )
        assert uploaded.status_code == 201, uploaded.text
        policy = api.post(
            "/api/v1/governance/policies",
            json={
                "name": name,
                "type": "max_resource_cost",
                "scope": {"provider": provider},
                "params": {"amount": "40"},
            },
        ).json()
    runner = CliRunner()
    base = ["--url", url, "--api-key", key]
    listed = runner.invoke(app, ["economist", "policies", "--limit", "1000", *base], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert name in listed.output

    dry = runner.invoke(
        app, ["economist", "policy-evaluate", str(policy["id"]), "--dry-run", "--json", *base]
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["opened"] == ["vm-cli"]

    ran = runner.invoke(
        app, ["economist", "policy-evaluate", str(policy["id"]), *base], env={"COLUMNS": "250"}
    )
    assert ran.exit_code == 0 and "2.000000 USD" in ran.output and "opened 1" in ran.output

    shown = runner.invoke(app, ["economist", "violations", "--policy", str(policy["id"]), "--json", *base])
    assert shown.exit_code == 0, shown.output
    [violation] = json.loads(shown.output)["items"]
    assert (violation["resource"], violation["cost_at_stake"], violation["status"]) == (
        "vm-cli",
        "2.000000",
        "open",
    )
    table = runner.invoke(
        app,
        ["economist", "violations", "--policy", str(policy["id"]), "--status", "open", *base],
        env={"COLUMNS": "250"},
    )
    assert table.exit_code == 0 and "vm-cli" in table.output and "1 of 1 violations" in table.output
