"""Buffered writer: nothing lost on shutdown, a full queue drops without blocking, outages are retried."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from oco.db import Database
from oco.writer import BufferedWriter


@pytest.fixture
async def log_table(database: Database):  # type: ignore[no-untyped-def]
    metadata = sa.MetaData()
    table = sa.Table(
        f"writer_test_{uuid.uuid4().hex[:8]}",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("label", sa.String(50)),
        sa.Column("extra", sa.JSON),
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield table
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


async def count(database: Database, table: sa.Table) -> int:
    async with database.engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a condition the writer brings about; the bound only turns a hang into a failure."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def failed_writes(writer: BufferedWriter) -> float:
    return REGISTRY.get_sample_value("oco_writer_write_errors_total", {"writer": writer.name}) or 0.0


async def test_a_partial_batch_is_written_once_the_flush_interval_passes(database, log_table) -> None:  # type: ignore[no-untyped-def]
    writer = BufferedWriter(database, log_table, batch_size=500, flush_interval_s=0.05)
    writer.start()
    for i in range(3):
        writer.enqueue({"n": i})
    await until(lambda: writer.written == 3, "the worker wrote a batch smaller than batch_size")
    assert await count(database, log_table) == 3  # written before any flush() or stop()
    await writer.stop()


@pytest.mark.parametrize("rows", [7, 1234])
async def test_every_enqueued_row_is_stored_on_shutdown(database, log_table, rows) -> None:  # type: ignore[no-untyped-def]
    writer = BufferedWriter(database, log_table, batch_size=500, flush_interval_s=5.0, queue_size=5000)
    writer.start()
    for i in range(rows):
        assert writer.enqueue({"n": i, "label": f"row{i}", "extra": {"i": i}})
    await writer.stop()
    assert await count(database, log_table) == rows
    assert writer.written == rows and writer.dropped == 0
    async with database.engine.connect() as conn:
        total = (await conn.execute(sa.select(sa.func.sum(log_table.c.n)))).scalar_one()
        sample = (await conn.execute(sa.select(log_table.c.extra).where(log_table.c.n == 3))).scalar_one()
    assert total == rows * (rows - 1) // 2
    assert sample == {"i": 3}


async def test_full_queue_drops_and_counts_without_blocking(database, log_table) -> None:  # type: ignore[no-untyped-def]
    writer = BufferedWriter(database, log_table, queue_size=10)
    # No worker runs yet, so nothing frees space: an enqueue that waited for space would never return.
    accepted = [writer.enqueue({"n": i}) for i in range(25)]
    assert accepted.count(True) == 10 and accepted.count(False) == 15
    assert writer.dropped == 15 and writer.queue.qsize() == 10
    writer.start()
    await writer.stop()
    assert await count(database, log_table) == 10


async def test_outage_shorter_than_retry_window_loses_nothing(database, log_table) -> None:  # type: ignore[no-untyped-def]
    hidden = f"{log_table.name}_away"
    async with database.engine.begin() as conn:  # the table disappears: every write fails for real
        await conn.execute(sa.text(f"ALTER TABLE {log_table.name} RENAME TO {hidden}"))
    writer = BufferedWriter(database, log_table, batch_size=50, flush_interval_s=0.05, retry_window_s=20)
    writer.start()
    for i in range(120):
        writer.enqueue({"n": i})
    await until(lambda: failed_writes(writer) >= 2, "the worker failed and retried a write")
    assert writer.written == 0 and writer.dropped == 0
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {hidden} RENAME TO {log_table.name}"))
    await writer.stop()
    assert writer.written == 120 and writer.dropped == 0
    assert await count(database, log_table) == 120


async def test_outage_longer_than_window_drops_and_counts(database, log_table) -> None:  # type: ignore[no-untyped-def]
    hidden = f"{log_table.name}_gone"
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {log_table.name} RENAME TO {hidden}"))
    writer = BufferedWriter(database, log_table, batch_size=10, flush_interval_s=0.05, retry_window_s=0.5)
    writer.start()
    for i in range(5):
        writer.enqueue({"n": i})
    await writer.stop()
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {hidden} RENAME TO {log_table.name}"))
    assert writer.written == 0 and writer.dropped == 5


async def test_a_refused_row_is_dropped_alone(database, log_table) -> None:  # type: ignore[no-untyped-def]
    writer = BufferedWriter(database, log_table, batch_size=500, flush_interval_s=0.05)
    writer.start()
    for i in range(300):  # enough for the COPY path on PostgreSQL
        writer.enqueue({"n": i if i != 123 else None, "label": f"r{i}"})  # n is NOT NULL: row 123 is refused
    await writer.stop()
    assert writer.dropped == 1 and writer.written == 299
    assert await count(database, log_table) == 299


async def test_flush_waits_for_rows_in_flight_and_stop_refuses_new_ones(database, log_table) -> None:  # type: ignore[no-untyped-def]
    writer = BufferedWriter(database, log_table, batch_size=10, flush_interval_s=0.01)
    writer.start()
    for i in range(95):
        writer.enqueue({"n": i})
    await writer.flush()
    assert await count(database, log_table) == 95
    await writer.stop()
    assert writer.enqueue({"n": 1}) is False
    assert writer.dropped == 1


async def test_stop_is_bounded_while_the_database_is_down(database, log_table) -> None:  # type: ignore[no-untyped-def]
    hidden = f"{log_table.name}_down"
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {log_table.name} RENAME TO {hidden}"))
    # The retry window is an hour: only the stop timeout can end the retries of 10 failing batches.
    writer = BufferedWriter(database, log_table, batch_size=5, flush_interval_s=0.01, retry_window_s=3600)
    writer.start()
    for i in range(50):
        writer.enqueue({"n": i})
    await until(lambda: failed_writes(writer) >= 1, "the first write failed")
    stopped = asyncio.ensure_future(writer.stop(timeout_s=0.2))
    await until(stopped.done, "stop() returned while every write was still failing")
    await stopped
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {hidden} RENAME TO {log_table.name}"))
    assert writer.written == 0 and writer.dropped == 50
    assert writer.enqueue({"n": 1}) is False
