"""A run reaped (marked failed "interrupted") by mistake while it still writes publishes nothing: its final
publish sees the record is no longer its own, rolls back, and leaves the record as the reaper wrote it (the
strict path, and on PostgreSQL the fast path)."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
import sqlalchemy as sa

from economist.ingestion import repository as repo
from economist.ingestion.runner import IngestionFailed, LedgerIngestor
from economist.ingestion.service import INTERRUPTED, command_ingestion
from economist.ledger.tables import cloud_costs, cloud_costs_daily
from economist.ledger.tags import DEFAULT_TAG_NORMALIZER
from economist.settings import EconomistSettings
from economist.sources import open_focus_source
from oco.kv import MemoryKV
from tests.economist.test_ingestion_slices import focus_file


class GatedFile(io.BytesIO):
    """A file whose reader stops at its end until `go` is set, after saying so with `reached`."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.size = len(data)
        self.reached = threading.Event()
        self.go = threading.Event()

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.size and not self.go.is_set():
            self.reached.set()
            self.go.wait(30)
        return super().read(size)


@pytest.mark.parametrize("fast", [False, True], ids=["strict", "fast"])
async def test_a_reaped_run_publishes_nothing(database, unique, fast: bool) -> None:  # type: ignore[no-untyped-def]
    if fast and database.dialect != "postgresql":
        pytest.skip("the fast path runs on PostgreSQL only")
    account = unique("acct")
    gated = GatedFile(focus_file("AWS", account, ["1.00", "2.00"]))
    ingestor = LedgerIngestor(database, normalizer=DEFAULT_TAG_NORMALIZER, fast_path=fast)
    async with command_ingestion(
        database,
        EconomistSettings(_env_file=None),
        MemoryKV(),
        source="focus",
        period=None,
        options={"upload": True},
        filename="gated.csv",
        created_by="test",
    ) as ingestion_id:
        run = asyncio.create_task(
            ingestor.run(
                ingestion_id, open_focus_source(gated, filename="gated.csv"), source_kind="focus", window=None
            )
        )
        assert await asyncio.to_thread(gated.reached.wait, 30)
        async with database.engine.begin() as conn:  # what the reaper writes
            await repo.fail_unfinished(conn, [ingestion_id], INTERRUPTED)
        gated.go.set()
        with pytest.raises(IngestionFailed) as caught:
            await run
    assert "nothing was published" in str(caught.value)
    assert ingestor.stats["fallback"] == 0 and ingestor.stats["strict"] == (0 if fast else 1)
    async with database.engine.connect() as conn:
        record = await repo.get_ingestion(conn, ingestion_id)
        rows = (
            await conn.execute(sa.select(sa.func.count()).where(cloud_costs.c.ingestion_id == ingestion_id))
        ).scalar_one()
        daily = (
            await conn.execute(
                sa.select(sa.func.count()).where(cloud_costs_daily.c.ingestion_id == ingestion_id)
            )
        ).scalar_one()
    assert record is not None and record["status"] == "failed"
    assert record["errors"] == [{"message": INTERRUPTED}] and record["row_count"] == 0
    assert rows == 0 and daily == 0
