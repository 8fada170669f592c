"""`oco economist ingest` beside a running economist: the command's ingestion holds an owner lease and a
heartbeat (oco.runs), so the service, starting up meanwhile and reaping every quarter second with a one
second stale window, never marks it interrupted while it writes; it ends succeeded."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from economist.app import create_app
from economist.ingestion.factory import SourceFactory
from economist.ledger.tables import ingestions
from economist.settings import EconomistSettings
from oco.cli import app as oco_command
from oco.runs import COMMAND_PREFIX
from oco.timeutil import as_utc, utcnow
from tests.economist.test_ingestion_progress import ROWS_PER_BATCH, GatedSource, provider_total

STALE_AFTER_S = 1.0  # the service reaps every quarter of it


@pytest.fixture
def command_env(database_url, redis_url, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """The environment of `oco economist ingest` in another process: the same database and kv (Redis when
    the suite has one; else the command's own in-process kv, which the service cannot see)."""
    monkeypatch.setenv("OCO_DATABASE_URL", database_url)
    monkeypatch.setenv("OCO_ECONOMIST_STALE_AFTER_S", str(STALE_AFTER_S))
    monkeypatch.delenv("REDIS_HOST", raising=False)
    if redis_url:
        monkeypatch.setenv("REDIS_URL", redis_url)
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def _record(database, ingestion_id: int) -> Any:  # type: ignore[no-untyped-def]
    async with database.engine.connect() as conn:
        return (await conn.execute(sa.select(ingestions).where(ingestions.c.id == ingestion_id))).one()


async def _command_ingestion(database, after_id: int, deadline: float) -> Any:  # type: ignore[no-untyped-def]
    """The command's record once it is running."""
    while True:
        async with database.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(ingestions).where(ingestions.c.id > after_id, ingestions.c.created_by == "cli")
                )
            ).first()
        if row is not None and row.status == "running":
            return row
        assert time.monotonic() < deadline, f"the command's ingestion never ran: {row}"
        await asyncio.sleep(0.05)


async def test_a_command_ingestion_outliving_the_stale_window_is_never_reaped(  # type: ignore[no-untyped-def]
    command_env, settings, serve_app, keystore, database, unique, monkeypatch
) -> None:
    provider, gate = f"Command-{uuid.uuid4().hex[:8]}", threading.Event()
    monkeypatch.setattr(SourceFactory, "build", lambda *_args, **_kwargs: GatedSource(provider, gate))
    async with database.engine.connect() as conn:
        last_id = (await conn.execute(sa.select(sa.func.coalesce(sa.func.max(ingestions.c.id), 0)))).scalar()

    # The command starts and stops before its third batch (the gate): it outlives the stale window there.
    command = asyncio.create_task(
        asyncio.to_thread(CliRunner().invoke, oco_command, ["economist", "ingest", "--source", "focus"])
    )
    try:
        record = await _command_ingestion(database, last_id, time.monotonic() + 20)
        assert record.owner.startswith(COMMAND_PREFIX) and record.heartbeat_at is not None

        # The service starts meanwhile (its start-up reap runs now), then reaps every 0.25 s.
        app = create_app(
            EconomistSettings(
                _env_file=None, **settings.model_dump(), oco_economist_stale_after_s=STALE_AFTER_S
            )
        )
        client = await serve_app(app)
        client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
        assert app.state.ingestion.tracker.stale_after_s == STALE_AFTER_S

        seen = set()
        while utcnow() - as_utc(record.created_at) < timedelta(
            seconds=4 * STALE_AFTER_S
        ):  # ~12 reaper passes past the window
            seen.add((await client.get(f"/api/v1/ingestions/{record.id}")).json()["status"])
            await asyncio.sleep(0.05)
        assert record.id not in await app.state.ingestion.reap()  # one more pass, awaited here
        assert seen == {"running"}, seen
        assert (await _record(database, record.id)).status == "running"
    finally:
        gate.set()
    result = await asyncio.wait_for(command, 30)
    assert result.exit_code == 0, result.output
    assert f"ingestion {record.id} succeeded: {4 * ROWS_PER_BATCH} rows" in result.stdout

    done = (await client.get(f"/api/v1/ingestions/{record.id}")).json()
    assert (done["status"], done["errors"], done["rows"]) == ("succeeded", [], 4 * ROWS_PER_BATCH)
    assert await provider_total(client, provider) == "2.000000"
