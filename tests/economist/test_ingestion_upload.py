"""The public FOCUS 1.0 sample through POST /api/v1/ingestions/upload: totals per provider from GET /costs
equal an independent Decimal sum of the file; re-ingesting changes nothing; a bad row is a 400 with its
line and column and leaves the ledger as it was; uploads over the size limit are refused."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from economist.app import create_app
from economist.demo import sample_path
from economist.settings import EconomistSettings
from oco.money import quantize_money

SAMPLE = sample_path()
WINDOW = {"from": "2024-09-01", "to": "2024-10-01"}


def file_totals(path: Path) -> tuple[dict[str, Decimal], set[str]]:
    """BilledCost per ProviderName summed as Decimal with the csv module, and the billing accounts."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    accounts: set[str] = set()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            totals[row["ProviderName"]] += Decimal(row["BilledCost"])
            accounts.add(row["BillingAccountId"])
    return dict(totals), accounts


@pytest.fixture
async def api(settings, serve_app, keystore, unique, tmp_path):  # type: ignore[no-untyped-def]
    app_settings = EconomistSettings(
        _env_file=None,
        **settings.model_dump(),
        oco_economist_max_upload_bytes=2_000_000,
        oco_economist_batch_size=100,  # the bad row (line 701) comes after 7 written batches
    )
    client = await serve_app(create_app(app_settings))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


async def provider_costs(api, accounts: set[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    params = {**WINDOW, "group_by": "provider", "filter": "billing_account:" + "|".join(sorted(accounts))}
    response = await api.get("/api/v1/costs", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["currency"] == "USD" and body["metric"] == "billed"
    return {row["provider"]: row["cost"] for row in body["rows"]}


async def test_sample_totals_match_the_file_and_reingest_changes_nothing(api) -> None:  # type: ignore[no-untyped-def]
    expected_totals, accounts = file_totals(SAMPLE)
    expected = {p: str(quantize_money(v)) for p, v in expected_totals.items()}
    assert set(expected) == {"AWS", "Microsoft", "Oracle"}

    first = await api.post(
        "/api/v1/ingestions/upload", content=SAMPLE.read_bytes(), params={"filename": SAMPLE.name}
    )
    assert first.status_code == 201, first.text
    record = first.json()
    assert record["status"] == "succeeded" and record["rows"] == 1000 and record["source"] == "focus"
    assert record["totals"] == {"USD": str(quantize_money(sum(expected_totals.values())))}
    assert record["progress"]["rows_read"] == 1000 and record["progress"]["percent"] == 100.0
    assert record["period"] == {"start": "2024-09-01", "end": "2024-10-01"}  # the charge days it covered
    assert await provider_costs(api, accounts) == expected

    again = await api.post(
        "/api/v1/ingestions/upload", files={"file": (SAMPLE.name, SAMPLE.read_bytes(), "text/csv")}
    )
    assert again.status_code == 201, again.text
    assert again.json()["replaced_rows"] == 1000
    assert await provider_costs(api, accounts) == expected

    listed = await api.get("/api/v1/ingestions", params={"source": "focus", "limit": 2})
    assert listed.status_code == 200
    assert listed.json()["items"][0]["id"] == again.json()["id"] and listed.json()["limit"] == 2


async def test_bad_row_is_400_with_line_and_column_and_keeps_the_ledger(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, accounts = file_totals(SAMPLE)
    ok = await api.post(
        "/api/v1/ingestions/upload", content=SAMPLE.read_bytes(), params={"filename": SAMPLE.name}
    )
    assert ok.status_code == 201
    before = await provider_costs(api, accounts)

    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    cells = next(csv.reader([lines[700]]))  # file line 701
    cells[header.index("BilledCost")] = "12,5O"
    buffer = Path(tmp_path / "bad.csv")
    with buffer.open("w", newline="", encoding="utf-8") as handle:
        handle.writelines(lines[:700])
        csv.writer(handle, quoting=csv.QUOTE_MINIMAL).writerow(cells)
        handle.writelines(lines[701:])

    bad = await api.post(
        "/api/v1/ingestions/upload", content=buffer.read_bytes(), params={"filename": "bad.csv"}
    )
    assert bad.status_code == 400, bad.text
    body = bad.json()
    assert body["error"]["code"] == "invalid_row" and body["error"]["param"] == "BilledCost"
    assert body["errors"] == [
        {"file": "bad.csv", "line": 701, "column": "BilledCost", "message": body["errors"][0]["message"]}
    ]
    assert "bad.csv:701" in body["error"]["message"]
    assert await provider_costs(api, accounts) == before

    failed = (await api.get(f"/api/v1/ingestions/{body['ingestion_id']}")).json()
    assert failed["status"] == "failed" and failed["rows"] == 0 and failed["period"] is None
    assert failed["errors"][0]["line"] == 701 and failed["errors"][0]["column"] == "BilledCost"


async def test_upload_limits_and_errors(api) -> None:  # type: ignore[no-untyped-def]
    too_big = await api.post("/api/v1/ingestions/upload", content=b"x" * 2_000_001)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "too_large"

    async def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: the stream itself is counted
        for _ in range(3):
            yield b"y" * 1_000_000

    streamed = await api.post("/api/v1/ingestions/upload", content=chunks())
    assert streamed.status_code == 413

    form = b'--xyz\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--xyz--\r\n'
    no_file = await api.post(
        "/api/v1/ingestions/upload",
        content=form,
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert no_file.status_code == 400 and no_file.json()["error"]["code"] == "no_file"
    missing_header = await api.post("/api/v1/ingestions/upload", content=b"ProviderName,BilledCost\nAWS,1\n")
    assert missing_header.status_code == 400
    assert missing_header.json()["errors"][0]["line"] == 1

    assert (await api.get("/api/v1/ingestions/999999999")).status_code == 404
    assert (
        await api.post("/api/v1/ingestions/upload", content=b"", headers={"X-API-Key": "nope"})
    ).status_code == 401
