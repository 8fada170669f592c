"""`oco demo load` beside a running economist: the load is a one-shot command, so its ingestion carries a
command's owner lease and heartbeat (oco.runs) and the service's reaper, at start-up and every pass after
its stale window, never marks it interrupted while it writes; it ends succeeded."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from economist.demo import service as demo
from economist.ingestion.factory import SourceFactory
from economist.ingestion.service import IngestionService
from economist.ledger.tables import ingestions
from economist.settings import EconomistSettings
from oco.db import Database
from oco.migrations import upgrade_engine
from oco.runs import COMMAND_PREFIX
from tests.economist.test_ingestion_progress import GatedSource

STALE_AFTER_S = 1.0


async def _demo_record(database: Database, deadline: float) -> Any:
    """The demo load's record once it is running."""
    while True:
        async with database.engine.connect() as conn:
            row = (await conn.execute(sa.select(ingestions).where(ingestions.c.created_by == "demo"))).first()
        if row is not None and row.status == "running":
            return row
        assert time.monotonic() < deadline, f"the demo load never ran: {row}"
        await asyncio.sleep(0.05)


async def test_a_demo_load_outliving_the_stale_window_is_never_reaped(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    gate = threading.Event()
    monkeypatch.setattr(
        demo, "open_focus_source", lambda _path: GatedSource(f"Demo-{uuid.uuid4().hex[:8]}", gate)
    )
    settings = EconomistSettings(
        _env_file=None,
        oco_database_url=f"sqlite+aiosqlite:///{tmp_path / 'oco.db'}",
        oco_data_dir=tmp_path,
        oco_economist_stale_after_s=STALE_AFTER_S,
    )
    database = Database(settings.database_url, pool_size=1)
    await upgrade_engine(database.engine)
    load = asyncio.create_task(demo.load_sample(settings))
    try:
        record = await _demo_record(database, time.monotonic() + 20)
        assert record.owner is not None and record.owner.startswith(COMMAND_PREFIX)
        # an economist on the in-process kv, starting meanwhile, then reaping past the stale window
        service = IngestionService(database, settings, SourceFactory(settings))
        reaped = await service.reap(startup=True)
        await asyncio.sleep(3 * STALE_AFTER_S)
        reaped += await service.reap()
        assert record.id not in reaped
        async with database.engine.connect() as conn:
            status = (
                await conn.execute(sa.select(ingestions.c.status).where(ingestions.c.id == record.id))
            ).scalar()
        assert status == "running"
    finally:
        gate.set()
        result = await asyncio.wait_for(load, 30)
        await database.dispose()
    assert result.ingestion_id == record.id and result.rows == 200
