"""A running ingestion: progress is visible through GET while its rows are not (one transaction), other
writes to the database go on meanwhile (SQLite stages rows in a TEMP table), concurrent loads of one slice
never double it, and stopping the service marks an unfinished ingestion failed with nothing kept."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from economist.app import create_app
from economist.ledger.columns import empty_row
from economist.ledger.tables import ingestions
from economist.settings import EconomistSettings
from economist.sources import SourceBatch, SourceProgress
from tests.economist.test_costs_queries import focus_csv

ROWS_PER_BATCH = 50


class GatedSource:
    """A billing source that stops before its third batch until the test opens the gate."""

    name = "focus"

    def __init__(self, provider: str, gate: threading.Event, batches: int = 4) -> None:
        self.provider, self.gate, self.count = provider, gate, batches

    def batches(self, batch_size: int = 5000) -> Iterator[SourceBatch]:
        start = datetime(2025, 7, 1, tzinfo=UTC)
        for b in range(self.count):
            if b == 2 and not self.gate.wait(20):
                raise RuntimeError("the gate never opened")
            rows = []
            for i in range(ROWS_PER_BATCH):
                row = empty_row()
                row.update(
                    billed_cost=Decimal("0.01"), effective_cost=Decimal("0.01"), billing_currency="USD",
                    billing_period_start=start, billing_period_end=start + timedelta(days=31),
                    charge_period_start=start + timedelta(hours=i), charge_period_end=start + timedelta(hours=i + 1),
                    provider_name=self.provider, charge_category="Usage", service_name="Gated",
                )  # fmt: skip
                rows.append(row)
            yield SourceBatch(
                rows, SourceProgress((b + 1) * ROWS_PER_BATCH, (b + 1) * 1000, self.count * 1000)
            )


class GatedFactory:
    def __init__(self, source: GatedSource) -> None:
        self.source = source

    def build(self, kind, period, options, *, trusted):  # type: ignore[no-untyped-def]
        return self.source


@pytest.fixture
async def served(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    app = create_app(
        EconomistSettings(_env_file=None, **settings.model_dump(), oco_economist_progress_interval_s=0)
    )
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return app, client


async def wait_for(client, ingestion_id: int, predicate) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(400):
        record = (await client.get(f"/api/v1/ingestions/{ingestion_id}")).json()
        if predicate(record):
            return record
        await asyncio.sleep(0.025)
    raise AssertionError(f"ingestion {ingestion_id}: {record}")


async def provider_total(client, provider: str) -> str:  # type: ignore[no-untyped-def]
    params = {"from": "2025-07-01", "to": "2025-08-01", "filter": f"provider:{provider}"}
    return (await client.get("/api/v1/costs", params=params)).json()["total"]


async def test_progress_is_visible_and_other_writes_go_on(served, database) -> None:  # type: ignore[no-untyped-def]
    app, client = served
    provider, gate = f"Gated-{uuid.uuid4().hex[:8]}", threading.Event()
    app.state.ingestion.factory = GatedFactory(GatedSource(provider, gate))
    started = await client.post("/api/v1/ingestions", json={"source": "focus"})
    assert started.status_code == 202
    ingestion_id = started.json()["id"]
    try:
        running = await wait_for(
            client, ingestion_id, lambda r: r["progress"]["rows_read"] >= 2 * ROWS_PER_BATCH
        )
        assert running["status"] == "running" and running["progress"]["percent"] == 50.0
        assert await provider_total(client, provider) == "0.000000"  # nothing visible before the end
        if database.dialect == "postgresql":  # progress also reaches the record for other processes
            async with database.engine.connect() as conn:
                saved = (
                    await conn.execute(
                        sa.select(ingestions.c.rows_read).where(ingestions.c.id == ingestion_id)
                    )
                ).scalar()
            assert saved == 2 * ROWS_PER_BATCH
        other = await asyncio.wait_for(
            client.post(
                "/api/v1/fx-rates",
                json={"rates": [{"date": "2025-07-01", "base": "EUR", "quote": "USD", "rate": "1.1"}]},
            ),
            timeout=4,
        )
        assert other.status_code == 201  # the database is not locked by the running ingestion
    finally:
        gate.set()
    done = await wait_for(client, ingestion_id, lambda r: r["status"] != "running")
    assert done["status"] == "succeeded" and done["rows"] == 4 * ROWS_PER_BATCH
    assert await provider_total(client, provider) == "2.000000"


async def test_stop_marks_running_ingestions_failed_and_keeps_nothing(served) -> None:  # type: ignore[no-untyped-def]
    app, client = served
    provider, gate = f"Stopped-{uuid.uuid4().hex[:8]}", threading.Event()
    app.state.ingestion.factory = GatedFactory(GatedSource(provider, gate))
    ingestion_id = (await client.post("/api/v1/ingestions", json={"source": "focus"})).json()["id"]
    await wait_for(client, ingestion_id, lambda r: r["progress"]["rows_read"] >= 2 * ROWS_PER_BATCH)
    stopping = asyncio.create_task(app.state.ingestion.stop())
    await asyncio.sleep(0.05)
    gate.set()
    await stopping
    record = (await client.get(f"/api/v1/ingestions/{ingestion_id}")).json()
    assert record["status"] == "failed" and "interrupted" in record["errors"][0]["message"]
    assert await provider_total(client, provider) == "0.000000"


async def test_concurrent_loads_of_one_slice_never_double(served) -> None:  # type: ignore[no-untyped-def]
    _, client = served
    provider = f"Twice-{uuid.uuid4().hex[:8]}"
    from datetime import date

    rows = [
        {"provider": provider, "day": date(2025, 7, d), "service": "S", "cost": Decimal("1.25")}
        for d in range(1, 21)
    ]
    body = focus_csv(rows)
    results = await asyncio.gather(
        *(
            client.post("/api/v1/ingestions/upload", content=body, params={"filename": f"copy{i}.csv"})
            for i in range(3)
        )
    )
    assert [r.status_code for r in results] == [201, 201, 201]
    assert await provider_total(client, provider) == "25.000000"
    assert sorted(r.json()["replaced_rows"] for r in results) == [0, 20, 20]
