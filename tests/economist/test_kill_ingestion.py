"""`kill -9` of economist in the middle of a long ingestion (a big generated FOCUS file): after a restart on
the same database the ingestion is failed "interrupted", the ledger holds none of its rows (cloud_costs and
cloud_costs_daily), and the process left no temporary file behind."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.service_process import start_service

ROWS = 400_000  # a few seconds of ingestion on either back end
HEADER = [
    "ProviderName", "BillingAccountId", "SubAccountId", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
    "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ServiceName", "RegionId", "ResourceId",
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "Tags",
]  # fmt: skip


def big_focus_file(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            day = 1 + n % 28
            writer.writerow(
                [
                    "AWS", "payer-kill", f"acct-{n % 50}", "USD", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z",
                    f"2026-02-{day:02d}T00:00:00Z", f"2026-02-{day:02d}T01:00:00Z", "Usage", f"svc-{n % 40}",
                    "us-east-1", f"i-{n:08d}", "1.250000", "1.100000", "2.000000", "1.250000",
                    '{"team":"kill"}',
                ]
            )  # fmt: skip
    return path


async def _ledger_rows(database, ingestion_id: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text("SELECT count(*) FROM cloud_costs WHERE ingestion_id = :i"), {"i": ingestion_id}
            )
        ).scalar_one()
        daily = (
            await conn.execute(
                sa.text("SELECT count(*) FROM cloud_costs_daily WHERE ingestion_id = :i"), {"i": ingestion_id}
            )
        ).scalar_one()
    return int(rows), int(daily)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def test_kill_9_mid_ingestion_leaves_no_rows_and_a_failed_record(
    tmp_path, database, database_url, redis_url, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    key = (await keystore.create(unique("econ"), ["economist"])).plaintext
    inbox, temp = tmp_path / "inbox", tmp_path / "tmp"
    inbox.mkdir()
    temp.mkdir()
    focus = big_focus_file(inbox / "big.csv", ROWS)
    env = {
        "OCO_DATABASE_URL": database_url,
        "OCO_DATA_DIR": str(tmp_path / "data"),
        "OCO_ECONOMIST_INGEST_DIRS": str(inbox),
        "OCO_ECONOMIST_STALE_AFTER_S": "3",  # a killed owner's Redis lease expires this soon
        "TMPDIR": str(temp),  # every temporary file the process makes lands here
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    first = start_service("economist", tmp_path / "run", env, name="-first")
    headers = {"X-API-Key": key}
    try:
        with httpx.Client(base_url=first.url, headers=headers, timeout=10) as api:
            started = api.post(
                "/api/v1/ingestions", json={"source": "focus", "options": {"path": str(focus)}}
            )
            assert started.status_code == 202, started.text
            ingestion_id = started.json()["id"]
            deadline = time.monotonic() + 120
            while True:
                record = api.get(f"/api/v1/ingestions/{ingestion_id}").json()
                assert record["status"] in ("pending", "running"), f"finished before the kill: {record}"
                if record["progress"]["rows_read"] >= 20_000:
                    break
                assert time.monotonic() < deadline, f"no progress\n{first.output()[-4000:]}"
                await asyncio.sleep(0.02)
        first.kill()
    finally:
        first.stop()
    at_kill = record["progress"]
    rows_at_kill = await _ledger_rows(database, ingestion_id)
    print(f"\nkilled at {at_kill['rows_read']} of {ROWS} rows read; ledger rows at the kill: {rows_at_kill}")

    second = start_service("economist", tmp_path / "run", env, name="-second")
    try:
        with httpx.Client(base_url=second.url, headers=headers, timeout=10) as api:
            deadline = time.monotonic() + 30
            while True:
                record = api.get(f"/api/v1/ingestions/{ingestion_id}").json()
                if record["status"] not in ("pending", "running"):
                    break
                assert time.monotonic() < deadline, f"still {record['status']}\n{second.output()[-4000:]}"
                await asyncio.sleep(0.1)
    finally:
        second.stop()
    assert record["status"] == "failed"
    assert any("interrupted" in e["message"] for e in record["errors"]), record["errors"]
    assert await _ledger_rows(database, ingestion_id) == (0, 0), "partial rows of the killed ingestion"
    assert not _files(temp), f"temporary files left: {_files(temp)}"
    leftovers = [p for p in _files(tmp_path / "data") if not p.name.startswith("oco.db")]
    assert not leftovers, f"files left in the data directory: {leftovers}"
