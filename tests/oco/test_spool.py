"""Writer spool: rows a dead process left on disk are replayed once, never duplicated; dropped rows come back
without a restart; clean shutdowns leave nothing behind."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from oco.db import Database
from oco.spool import RowSpool
from oco.timeutil import utcnow
from oco.writer import BufferedWriter

KEY = ("rid", "created_at")


@pytest.fixture
async def log_table(database: Database):  # type: ignore[no-untyped-def]
    metadata = sa.MetaData()
    table = sa.Table(
        f"spool_test_{uuid.uuid4().hex[:8]}",
        metadata,
        sa.Column("rid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("cost", sa.Numeric(18, 6)),
        sa.Column("extra", sa.JSON),
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield table
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


def make_row(n: int, rid: str | None = None) -> dict:
    return {
        "rid": rid or f"r{n}",
        "created_at": utcnow(),
        "n": n,
        "cost": Decimal("0.000123") * n,
        "extra": {"n": n},
    }


def writer_for(database: Database, table: sa.Table, directory: Path, **options) -> BufferedWriter:  # type: ignore[no-untyped-def]
    options.setdefault("flush_interval_s", 0.02)
    return BufferedWriter(database, table, spool=RowSpool(directory, table.name), spool_key=KEY, **options)


def crash(writer: BufferedWriter) -> None:
    """What SIGKILL does to the spool: file descriptors (and their locks) go, the files stay."""
    assert writer.spool is not None
    for segment in writer.spool.segments:
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
    if writer._task is not None:
        writer._task.cancel()


async def rows_of(database: Database, table: sa.Table) -> list[tuple]:
    async with database.engine.connect() as conn:
        result = await conn.execute(sa.select(table.c.rid, table.c.n, table.c.cost).order_by(table.c.n))
        return [tuple(r) for r in result.all()]


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


async def test_rows_of_a_killed_writer_are_replayed_at_the_next_start(database, log_table, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dead = writer_for(database, log_table, tmp_path)
    dead.spool.open()  # type: ignore[union-attr]  # never started: nothing was committed before the kill
    for i in range(40):
        dead.enqueue(make_row(i))
    crash(dead)
    assert len(spool_files(tmp_path)) == 1

    writer = writer_for(database, log_table, tmp_path)
    writer.start()
    await until(lambda: writer.replayed == 40, "the leftover file was replayed")
    await writer.stop()
    stored = await rows_of(database, log_table)
    assert [r[1] for r in stored] == list(range(40))
    assert stored[3] == ("r3", 3, Decimal("0.000369"))  # Decimal and datetime survive the round trip
    assert spool_files(tmp_path) == []


async def test_a_replay_after_a_partial_commit_adds_only_the_missing_rows(
    database, log_table, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # killed after a batch was committed but before its rows left the spool file
    dead = writer_for(database, log_table, tmp_path)
    dead.spool.open()  # type: ignore[union-attr]
    rows = [make_row(i) for i in range(60)]
    for row in rows:
        dead.enqueue(row)
    crash(dead)
    async with database.engine.begin() as conn:
        await conn.execute(log_table.insert(), rows[:25])
    writer = writer_for(database, log_table, tmp_path)
    writer.start()
    await until(lambda: writer.replayed == 35, "the 35 uncommitted rows were replayed")
    await writer.stop()
    assert [r[1] for r in await rows_of(database, log_table)] == list(range(60))  # each once


async def test_a_reused_request_id_is_not_mistaken_for_a_stored_row(database, log_table, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dead = writer_for(database, log_table, tmp_path)
    dead.spool.open()  # type: ignore[union-attr]
    first, second = make_row(1, rid="same"), make_row(2, rid="same")  # a caller reused an X-Request-ID
    second["created_at"] = first["created_at"] + dt.timedelta(microseconds=1)
    dead.enqueue(first)
    dead.enqueue(second)
    crash(dead)
    async with database.engine.begin() as conn:  # the first had been committed
        await conn.execute(log_table.insert(), [first])
    writer = writer_for(database, log_table, tmp_path)
    writer.start()
    await until(lambda: writer.replayed == 1, "only the uncommitted one was replayed")
    await writer.stop()
    assert [r[1] for r in await rows_of(database, log_table)] == [1, 2]


async def test_a_torn_last_line_is_skipped(database, log_table, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dead = writer_for(database, log_table, tmp_path)
    dead.spool.open()  # type: ignore[union-attr]
    for i in range(3):
        dead.enqueue(make_row(i))
    crash(dead)
    with spool_files(tmp_path)[0].open("ab") as spool_file:
        spool_file.write(b'{"rid":"r3","created_at":"2024-')  # the kill cut a write short
    writer = writer_for(database, log_table, tmp_path)
    writer.start()
    await until(lambda: writer.replayed == 3, "the readable rows were replayed")
    await writer.stop()
    assert len(await rows_of(database, log_table)) == 3


async def test_a_live_process_file_is_never_taken(database, log_table, tmp_path) -> None:  # type: ignore[no-untyped-def]
    live = writer_for(database, log_table, tmp_path, flush_interval_s=30)
    live.start()
    live.enqueue(make_row(1))
    other = RowSpool(tmp_path, log_table.name)
    other.directory.mkdir(exist_ok=True)
    assert other.adopt_leftovers() == 0  # the file is locked by its (live) writer
    await live.stop()
    assert len(await rows_of(database, log_table)) == 1


async def test_a_clean_shutdown_leaves_no_file_and_truncates_when_idle(database, log_table, tmp_path) -> None:  # type: ignore[no-untyped-def]
    writer = writer_for(database, log_table, tmp_path)
    writer.start()
    for i in range(10):
        writer.enqueue(make_row(i))
    await writer.flush()
    [active] = spool_files(tmp_path)
    await until(lambda: active.stat().st_size == 0, "the committed rows were truncated away")
    await writer.stop()
    assert spool_files(tmp_path) == []


async def test_segments_rotate_and_committed_ones_are_deleted(database, log_table, tmp_path) -> None:  # type: ignore[no-untyped-def]
    writer = BufferedWriter(
        database,
        log_table,
        spool=RowSpool(tmp_path, log_table.name, segment_bytes=2000),
        spool_key=KEY,
        flush_interval_s=0.05,
        batch_size=1000,
    )
    writer.start()
    for i in range(100):
        writer.enqueue(make_row(i))
    assert len(spool_files(tmp_path)) > 3  # ~150 bytes a row, 2000 bytes a segment
    await writer.flush()
    assert len(spool_files(tmp_path)) == 1  # only the active one is left
    await writer.stop()
    assert len(await rows_of(database, log_table)) == 100


async def test_rows_dropped_by_a_full_queue_come_back_without_a_restart(
    database, log_table, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    writer = writer_for(database, log_table, tmp_path, queue_size=10)
    writer.start()  # the worker only runs once this test yields to the loop: 15 of 25 rows are dropped
    accepted = [writer.enqueue(make_row(i)) for i in range(25)]
    assert accepted.count(False) == 15
    await until(lambda: writer.replayed == 15, "the re-drive wrote the dropped rows from the spool")
    await writer.stop()
    assert [r[1] for r in await rows_of(database, log_table)] == list(range(25))
    assert spool_files(tmp_path) == []


async def test_rows_not_written_before_a_shutdown_during_an_outage_are_kept(
    database, log_table, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    hidden = f"{log_table.name}_away"
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {log_table.name} RENAME TO {hidden}"))
    writer = writer_for(database, log_table, tmp_path, retry_window_s=0.3)
    writer.start()
    for i in range(20):
        writer.enqueue(make_row(i))
    await writer.stop(timeout_s=0.5)
    assert writer.written == 0 and len(spool_files(tmp_path)) >= 1
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {hidden} RENAME TO {log_table.name}"))
    again = writer_for(database, log_table, tmp_path)
    again.start()
    await until(lambda: again.replayed == 20, "the kept file was replayed at the next start")
    await again.stop()
    assert len(await rows_of(database, log_table)) == 20
    assert spool_files(tmp_path) == []
