"""oco.runs on a run table of its own (no service): who is reaped (stale heartbeats, lost leases, start-up
on the in-process kv, commands judged by heartbeat where their lease is invisible, kv outages), what a
command's detached tracker keeps alive, held and launched runs, progress written and overlaid."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from oco.db import Database
from oco.kv import MemoryKV, create_kv
from oco.runs import OwnerLease, RunTable, RunTracker, detached_tracker, new_owner_id
from oco.timeutil import utcnow
from tests.conftest import require_or_skip


@pytest.fixture
async def spec(database: Database) -> AsyncIterator[RunTable]:
    """A scratch run table: status running/done/failed, an error column and a progress column."""
    table = sa.Table(
        f"test_runs_{uuid.uuid4().hex[:10]}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("done", sa.Integer, nullable=False, default=0),
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(table.create)
    yield RunTable(
        table=table,
        kind="test run",
        unfinished=("running",),
        failed="failed",
        error_values=lambda message: {"error": message},
        interrupted="interrupted",
        stopped="stopped",
        progress_values=lambda done: {"done": done},
        overlay=lambda record, done: {**record, "done": max(done, record["done"])},
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(table.drop)


async def _insert(database: Database, spec: RunTable, owner: str | None, *, age_s: float = 0) -> int:
    beat = utcnow() - timedelta(seconds=age_s)
    async with database.engine.begin() as conn:
        result = await conn.execute(
            sa.insert(spec.table)
            .values(status="running", owner=owner, heartbeat_at=beat, created_at=beat, done=0)
            .returning(spec.table.c.id)
        )
        return int(result.scalar_one())


async def _row(database: Database, spec: RunTable, run_id: int) -> Any:
    async with database.engine.connect() as conn:
        return (await conn.execute(sa.select(spec.table).where(spec.table.c.id == run_id))).one()


def _tracker(database: Database, spec: RunTable, lease: OwnerLease, **kwargs: Any) -> RunTracker:
    options: dict[str, Any] = {"heartbeat_interval_s": 0.05, "progress_interval_s": 0.05, "stale_after_s": 60}
    return RunTracker(database, spec, lease=lease, **{**options, **kwargs})


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_the_in_process_kv_judges_commands_by_heartbeat_and_services_by_lease(database, spec) -> None:  # type: ignore[no-untyped-def]
    """One service process with the in-process kv: a command beside it (its lease is in its own process)
    lives while its heartbeat is fresh, at start-up too; another service owner's run is dead at start-up."""
    tracker = _tracker(database, spec, OwnerLease(MemoryKV(), ttl_s=60))
    command = await _insert(database, spec, new_owner_id(command=True))
    stale_command = await _insert(database, spec, new_owner_id(command=True), age_s=120)
    legacy = await _insert(database, spec, "pre-lease-process")
    service = await _insert(database, spec, new_owner_id())

    assert await tracker.reap() == [stale_command]  # heartbeats only: this kv sees no other lease
    # start-up: one service process, a command spared
    assert sorted(await tracker.reap(startup=True)) == sorted([legacy, service])
    row = await _row(database, spec, command)
    assert (row.status, row.error) == ("running", None)
    failed = await _row(database, spec, service)
    assert (failed.status, failed.error) == ("failed", "interrupted") and failed.finished_at is not None


async def test_a_shared_kv_tells_a_live_command_from_a_dead_one(database, spec, redis_url) -> None:  # type: ignore[no-untyped-def]
    if not redis_url:
        require_or_skip("Redis (OCO_TEST_REDIS_URL)")
    kv = create_kv(redis_url)
    try:
        tracker = _tracker(database, spec, OwnerLease(kv, ttl_s=60))
        command = OwnerLease(kv, ttl_s=60, command=True)
        await command.refresh()
        live = await _insert(database, spec, command.owner)
        dead = await _insert(database, spec, new_owner_id(command=True))  # its lease expired with it
        assert await tracker.reap(startup=True) == [dead]
        await command.release()
        assert await tracker.reap() == [live]
    finally:
        await kv.close()


class _DownKV(MemoryKV):
    backend = "redis"  # a shared kv that cannot be reached

    async def get(self, key: str) -> bytes | None:
        raise ConnectionError("kv down")


async def test_a_kv_outage_reaps_by_heartbeat_only(database, spec) -> None:  # type: ignore[no-untyped-def]
    tracker = _tracker(database, spec, OwnerLease(_DownKV(), ttl_s=60))
    fresh = await _insert(database, spec, new_owner_id())
    stale = await _insert(database, spec, new_owner_id(), age_s=120)
    assert await tracker.reap() == [stale]
    assert (await _row(database, spec, fresh)).status == "running"


async def test_a_command_tracker_keeps_its_run_alive_and_reaps_nothing(database, spec) -> None:  # type: ignore[no-untyped-def]
    someone_elses = await _insert(database, spec, new_owner_id(), age_s=120)  # dead, but not ours to reap
    async with detached_tracker(database, spec, MemoryKV(), stale_after_s=1.0) as tracker:
        assert tracker.owner.startswith("cmd-")
        async with database.engine.begin() as conn:
            run_id = (
                await conn.execute(
                    sa.insert(spec.table)
                    .values(status="running", created_at=utcnow(), done=0)
                    .returning(spec.table.c.id)
                )
            ).scalar_one()
            await tracker.claim(conn, run_id)
        claimed = await _row(database, spec, run_id)
        assert claimed.owner == tracker.owner
        async with tracker.hold(run_id) as progress:
            progress(7)

            async def outlived_the_window() -> bool:
                row = await _row(database, spec, run_id)
                return row.heartbeat_at > claimed.heartbeat_at + timedelta(seconds=1) and row.done == 7

            await _until(outlived_the_window)
            assert (await _row(database, spec, someone_elses)).status == "running"  # a command reaps nothing
            # a service reaping with the same window spares it: its heartbeat is fresh
            service = _tracker(database, spec, OwnerLease(MemoryKV(), ttl_s=1), stale_after_s=1)
            assert await service.reap() == [someone_elses]
            async with database.engine.begin() as conn:
                await conn.execute(
                    sa.update(spec.table).where(spec.table.c.id == run_id).values(status="done")
                )


async def test_a_held_run_left_by_an_exception_ends_failed(database, spec) -> None:  # type: ignore[no-untyped-def]
    tracker = _tracker(database, spec, OwnerLease(MemoryKV(), ttl_s=60))
    run_id = await _insert(database, spec, tracker.owner)
    with pytest.raises(RuntimeError):
        async with tracker.hold(run_id):
            assert tracker.is_running(run_id)
            raise RuntimeError("boom")
    row = await _row(database, spec, run_id)
    assert (row.status, row.error) == ("failed", "stopped")
    assert not tracker.is_running(run_id)


async def test_launched_runs_show_live_progress_and_stop_marks_them_interrupted(database, spec) -> None:  # type: ignore[no-untyped-def]
    tracker = _tracker(database, spec, OwnerLease(MemoryKV(), ttl_s=60), max_concurrent=1)
    tracker.start()
    first = await _insert(database, spec, tracker.owner)
    queued = await _insert(database, spec, tracker.owner)
    reported = threading.Event()

    async def runner(cancel: threading.Event, progress: Any) -> None:
        def work() -> None:  # a worker thread, as an engine's
            progress(3)
            reported.set()
            cancel.wait(10)

        await asyncio.to_thread(work)

    tracker.launch(first, runner)
    tracker.launch(queued, runner)  # waits for the one slot
    assert await asyncio.to_thread(reported.wait, 10)

    async def overlaid() -> bool:
        record = dict((await _row(database, spec, first))._mapping)
        return tracker.overlay(record)["done"] == 3

    await _until(overlaid)
    assert sorted(tracker.running_ids()) == sorted([first, queued])
    assert sorted(await tracker.stop(grace_s=5)) == sorted([first, queued])
    for run_id in (first, queued):
        row = await _row(database, spec, run_id)
        assert (row.status, row.error) == ("failed", "stopped")


async def test_the_in_process_kv_never_reaps_a_live_run_of_another_service_process(database, spec) -> None:  # type: ignore[no-untyped-def]
    """Two service processes on one database without Redis (each its own in-process kv, which cannot see
    the other's lease): a periodic reap judges the other's run by its heartbeat, never by an invisible lease."""
    running = _tracker(database, spec, OwnerLease(MemoryKV(), ttl_s=60))
    other = _tracker(database, spec, OwnerLease(MemoryKV(), ttl_s=60))
    live = await _insert(database, spec, running.owner)
    async with running.hold(live):
        assert await other.reap() == []
        assert (await _row(database, spec, live)).status == "running"
        async with database.engine.begin() as conn:
            await conn.execute(sa.update(spec.table).where(spec.table.c.id == live).values(status="done"))


async def test_stop_reports_and_cleans_up_only_the_runs_it_interrupted(database, spec) -> None:  # type: ignore[no-untyped-def]
    """A run that ends by itself within the grace period is not "interrupted": stop() neither returns it
    nor hands it to the interrupted hooks (which, e.g., delete a backup's archive)."""
    tracker = _tracker(database, spec, OwnerLease(MemoryKV(), ttl_s=60), max_concurrent=2)
    finishing = await _insert(database, spec, tracker.owner)
    stuck = await _insert(database, spec, tracker.owner)
    cleaned: list[int] = []

    async def hook(ids: list[int]) -> None:
        cleaned.extend(ids)

    tracker.interrupted_hooks.append(hook)

    async def finishes_when_asked(cancel: threading.Event, _progress: Any) -> None:
        await asyncio.to_thread(cancel.wait, 10)
        async with database.engine.begin() as conn:  # it records its own end
            await conn.execute(
                sa.update(spec.table).where(spec.table.c.id == finishing).values(status="done")
            )

    async def ignores_cancel(_cancel: threading.Event, _progress: Any) -> None:
        await asyncio.sleep(30)

    tracker.launch(finishing, finishes_when_asked)
    tracker.launch(stuck, ignores_cancel)
    await asyncio.sleep(0)
    assert await tracker.stop(grace_s=1) == [stuck]  # the stuck one is cancelled after the grace
    assert cleaned == [stuck]
    assert (await _row(database, spec, finishing)).status == "done"
    assert (await _row(database, spec, stuck)).status == "failed"
