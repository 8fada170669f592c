"""`oco economist recommendations` through the real `oco` command against the economist app on loopback:
refresh, the list (table and --json), show and set-status, with the API's errors as one line."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

from typer.testing import CliRunner

from oco.cli import app
from tests.economist.test_cli_costs import economist  # noqa: F401 - the fixture
from tests.economist.test_recommendations_support import days, focus_csv, line, money

EBS = {"service_category": "Storage", "service": "Amazon Elastic Block Store", "type": "Volume"}


def test_recommendations_commands(economist, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    url, key = economist
    account = f"cli-acct-{uuid.uuid4().hex[:8]}"
    volume = f"vol-cli-{uuid.uuid4().hex[:8]}"
    lines = [
        line(d, volume, "1.20", description="GB-Mo of gp3 provisioned storage", **EBS)
        for d in days(date(2038, 1, 1), 10)
    ]
    path = tmp_path / "ledger.csv"
    path.write_bytes(focus_csv(lines, account))
    runner = CliRunner()
    common = ["--url", url, "--api-key", key]
    ingested = runner.invoke(app, ["economist", "ingest", str(path)])
    assert ingested.exit_code == 0, ingested.output

    refreshed = runner.invoke(
        app,
        [
            "economist",
            "recommendations",
            "refresh",
            "--as-of",
            "2038-01-11",
            "--billing-account",
            account,
            *common,
        ],
    )
    assert refreshed.exit_code == 0, refreshed.output
    assert "created 1," in refreshed.stdout

    saving = money(Decimal("12.00") * 730 / 240)
    listed = runner.invoke(
        app, ["economist", "recommendations", "--account", account, *common], env={"COLUMNS": "300"}
    )
    assert listed.exit_code == 0, listed.output
    assert volume in listed.stdout and f"saving {saving} USD a month" in listed.stdout
    as_json = runner.invoke(app, ["economist", "recommendations", "--account", account, "--json", *common])
    page = json.loads(as_json.stdout)
    assert [r["resource_id"] for r in page["items"]] == [volume]
    rec_id = str(page["items"][0]["id"])

    shown = runner.invoke(app, ["economist", "recommendations", "show", rec_id, *common])
    assert shown.exit_code == 0 and "window_cost: 12.000000" in shown.stdout

    refused = runner.invoke(app, ["economist", "recommendations", "set-status", rec_id, "dismissed", *common])
    assert refused.exit_code == 1 and "a dismissal needs a reason" in refused.stderr
    dismissed = runner.invoke(
        app,
        [
            "economist",
            "recommendations",
            "set-status",
            rec_id,
            "dismissed",
            "--reason",
            "kept",
            "--json",
            *common,
        ],
    )
    assert dismissed.exit_code == 0, dismissed.output
    assert json.loads(dismissed.stdout)["status"] == "dismissed"
