"""Recovery of runs a crash or a shutdown interrupted: owner leases in the kv tell dead owners apart at
start-up and in the run tracker's own periodic reaper (scheduler or not); interrupted backups leave no
archive; New records carry their expiry; stale work files are swept at start-up."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from aegis.app import create_app
from aegis.backups.runs import run_table
from aegis.backups.tables import backup_records
from aegis.locations.tables import storage_locations
from aegis.storage.local import LocalStorage
from oco.kv import MemoryKV, create_kv
from oco.runs import OwnerLease, RunTracker, new_owner_id, owner_key
from oco.timeutil import as_utc, utcnow
from tests.aegis.api_env import aegis_settings, clusters_file, start_env
from tests.aegis.scenario import populate

_COMMON: dict[str, Any] = {
    "spec": {},
    "items_total": 10,
    "items_done": 3,
    "counts": {},
    "errors": [],
    "warnings": [],
    "size_bytes": 0,
    "encrypted": False,
}


async def _insert_running(  # type: ignore[no-untyped-def]
    database, unique, *, owner: str, location: str = "gone", job_id: int | None = None
) -> tuple[int, str]:
    """A backup InProgress with a fresh heartbeat, as a process leaves it when killed with -9."""
    name = unique("crashed")
    key = f"backups/{name}/{name}.tar.gz"
    now = utcnow()
    async with database.engine.begin() as conn:
        backup_id = (
            await conn.execute(
                sa.insert(backup_records)
                .values(
                    name=name,
                    job_id=job_id,
                    cluster="gone",
                    storage_location=location,
                    storage_key=key,
                    phase="InProgress",
                    owner=owner,
                    heartbeat_at=now,
                    created_at=now,
                    started_at=now,
                    **_COMMON,
                )
                .returning(backup_records.c.id)
            )
        ).scalar_one()
    return int(backup_id), key


async def _row(database, backup_id: int) -> Any:  # type: ignore[no-untyped-def]
    async with database.engine.connect() as conn:
        return (await conn.execute(sa.select(backup_records).where(backup_records.c.id == backup_id))).one()


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    for base, dirs, files in os.walk(path) if path.is_dir() else [(str(path.parent), [], [path.name])]:
        for name in (*dirs, *files):
            os.utime(os.path.join(base, name), (old, old))
    os.utime(path, (old, old))


async def test_a_killed_run_is_failed_at_start_up_its_archive_deleted_and_stale_files_swept(  # type: ignore[no-untyped-def]
    settings, serve_app, database, keystore, unique, tmp_path, kube
) -> None:
    # The process died (kill -9) 3 s into a backup whose upload had completed: fresh heartbeat, no
    # outcome recorded, an archive under its key. Its owner lease is not in the kv (it died with it).
    store = tmp_path / "store"
    location = unique("disk")
    async with database.engine.begin() as conn:
        await conn.execute(
            sa.insert(storage_locations).values(
                name=location, type="local", config={"path": str(store)}, created_at=utcnow()
            )
        )
    dead_owner = new_owner_id()
    backup_id, key = await _insert_running(database, unique, owner=dead_owner, location=location)
    LocalStorage(store).put_file(_file(tmp_path / "archive", b"orphan"), key)
    assert (store / key).is_file()

    work = tmp_path / "work"
    work.mkdir()
    stale_file = work / "aegis-backup-dead.tar.gz"
    stale_file.write_bytes(b"x")
    stale_dir = work / "aegis-restore-dead"
    (stale_dir / "sub").mkdir(parents=True)
    (stale_dir / "sub" / "archive.tar.gz").write_bytes(b"x")
    fresh_dir = work / "aegis-contents-live"
    fresh_dir.mkdir()
    unrelated = work / "keep-me.txt"
    unrelated.write_bytes(b"x")
    for path in (stale_file, stale_dir, unrelated):
        _age(path, 3600)

    # Restarted quickly, without the scheduler (the test settings disable it).
    env = await start_env(settings, serve_app, keystore, unique, tmp_path, kube, kube)
    assert not env.settings.oco_aegis_scheduler_enabled

    row = await _row(database, backup_id)
    assert (row.phase, row.error) == ("Failed", "interrupted")
    assert row.finished_at is not None
    assert not (store / key).exists()  # the archive the dead run left is deleted
    assert not stale_file.exists() and not stale_dir.exists()
    assert fresh_dir.exists() and unrelated.exists()
    # And it is an ordinary failed backup now: DELETE works (it answered 409 while it stayed InProgress).
    deleted = await env.ok("DELETE", f"/api/v1/backups/{backup_id}")
    assert deleted["phase"] == "Deleted"


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def test_start_up_spares_runs_of_live_owners_on_a_shared_kv(  # type: ignore[no-untyped-def]
    settings, serve_app, database, unique, tmp_path, kube
) -> None:
    """With Redis (several replicas), a run whose owner lease is alive is left alone at start-up; with
    the in-process kv (one process) every unfinished run at start-up belongs to a dead process."""
    kv = create_kv(settings.resolved_redis_url)
    live_owner = new_owner_id()
    await kv.set(owner_key(live_owner), b"1", ttl_s=60)
    try:
        live_id, _ = await _insert_running(database, unique, owner=live_owner)
        dead_id, _ = await _insert_running(database, unique, owner=new_owner_id())

        app = create_app(aegis_settings(settings, tmp_path, clusters_file(tmp_path, {"src": kube})))
        await serve_app(app)

        assert (await _row(database, dead_id)).phase == "Failed"
        live = await _row(database, live_id)
        if kv.backend == "memory":
            assert (live.phase, live.error) == ("Failed", "interrupted")
        else:
            assert (live.phase, live.error) == ("InProgress", None)
    finally:
        async with database.engine.begin() as conn:  # do not leave it for other tests' reapers
            await conn.execute(sa.delete(backup_records).where(backup_records.c.id == live_id))
        await kv.delete(owner_key(live_owner))
        await kv.close()


class _SharedKV(MemoryKV):
    """An in-process kv the test's "replicas" share, as they would share Redis (leases visible to all)."""

    backend = "shared"


async def test_the_tracker_loop_reaps_runs_whose_owner_lease_is_gone(  # type: ignore[no-untyped-def]
    settings, database, unique
) -> None:
    """No scheduler, heartbeats still fresh: the tracker's own loop tells dead owners by their lease (in a
    kv the replicas share: Redis, or without it one in-process kv standing in for it)."""
    kv = create_kv(settings.resolved_redis_url) if settings.resolved_redis_url else _SharedKV()
    lease = OwnerLease(kv, ttl_s=600)
    tracker = RunTracker(
        database,
        run_table(backup_records, "backup"),
        max_concurrent=1,
        progress_interval_s=0.05,
        heartbeat_interval_s=0.05,
        stale_after_s=600,  # the heartbeat rule cannot be what reaps here
        reap_interval_s=0.1,
        lease=lease,
    )
    other = OwnerLease(kv, ttl_s=600)  # another live replica
    await other.refresh()
    live_id, _ = await _insert_running(database, unique, owner=other.owner)
    legacy_id, _ = await _insert_running(database, unique, owner="pre-lease-process")  # judged by heartbeat
    dead_id, _ = await _insert_running(database, unique, owner=new_owner_id())
    interrupted: list[int] = []

    async def hook(ids: list[int]) -> None:
        interrupted.extend(ids)

    tracker.interrupted_hooks.append(hook)
    tracker.start()
    try:

        async def dead_reaped() -> bool:
            return (await _row(database, dead_id)).phase == "Failed"

        await _until(dead_reaped)
        assert (await _row(database, dead_id)).error == "interrupted"
        assert dead_id in interrupted
        assert await kv.get(owner_key(lease.owner)) is not None  # the loop registered our own lease
        assert (await _row(database, live_id)).phase == "InProgress"
        assert (await _row(database, legacy_id)).phase == "InProgress"

        await other.release()  # that replica stops without marking its run: reaped on the next pass

        async def live_reaped() -> bool:
            return (await _row(database, live_id)).phase == "Failed"

        await _until(live_reaped)
        assert (await _row(database, legacy_id)).phase == "InProgress"
    finally:
        await tracker.stop(0)
        async with database.engine.begin() as conn:
            await conn.execute(
                sa.delete(backup_records).where(backup_records.c.id.in_([live_id, legacy_id, dead_id]))
            )
        await lease.release()
        await kv.close()


async def test_without_scheduler_a_crashed_scheduled_run_no_longer_blocks_its_schedule(  # type: ignore[no-untyped-def]
    settings, serve_app, database, keystore, unique, tmp_path, kube, client_for
) -> None:
    populate(client_for(kube))
    # stale_after_s=1: the tracker's loop (not the scheduler, disabled) reaps every 0.25 s.
    env = await start_env(
        settings, serve_app, keystore, unique, tmp_path, kube, kube, oco_aegis_stale_after_s=1.0
    )
    location = unique("disk")
    await env.add_local_location(location)
    name = unique("nightly")
    schedule = await env.ok(
        "POST",
        "/api/v1/schedules",
        201,
        json={
            "name": name,
            "cron": "0 3 * * *",
            "cluster": env.src,
            "storage_location": location,
            "included_namespaces": ["shop"],
        },
    )
    crashed_id, _ = await _insert_running(
        database, unique, owner=new_owner_id(), location=location, job_id=schedule["id"]
    )

    async def reaped() -> bool:
        return (await env.ok("GET", f"/api/v1/backups/{crashed_id}"))["phase"] == "Failed"

    await _until(reaped)

    due = datetime.fromisoformat(schedule["next_run_at"].replace("Z", "+00:00"))
    report = await env.app.state.scheduler.tick(now=due + timedelta(seconds=1))
    assert name not in report.missed  # not counted "busy"
    fired = [
        b
        for b in report.fired
        if (await env.ok("GET", f"/api/v1/backups/{b}"))["schedule_id"] == schedule["id"]
    ]
    assert len(fired) == 1
    assert (await env.wait_for(f"/api/v1/backups/{fired[0]}"))["phase"] == "Completed"


async def test_shutdown_during_upload_leaves_no_archive_and_the_record_expires(  # type: ignore[no-untyped-def]
    settings, database, keystore, unique, tmp_path, kube, client_for, monkeypatch
) -> None:
    populate(client_for(kube))
    uploading, uploaded = threading.Event(), threading.Event()
    original = LocalStorage.put_file

    def slow_put_file(self, local_path, key, *, sha256=None):  # type: ignore[no-untyped-def]
        if key.startswith("backups/"):  # not the location's probe
            uploading.set()
            time.sleep(1.0)  # still uploading when the grace period ends; the thread cannot be killed
            try:
                return original(self, local_path, key, sha256=sha256)
            finally:
                uploaded.set()
        return original(self, local_path, key, sha256=sha256)

    monkeypatch.setattr(LocalStorage, "put_file", slow_put_file)
    src = unique("src")
    config = aegis_settings(
        settings, tmp_path, clusters_file(tmp_path, {src: kube}), oco_aegis_shutdown_grace_s=0.1
    )
    app = create_app(config)
    key = await keystore.create(unique("aegis"), ["aegis"])
    headers = {"X-API-Key": key.plaintext}
    location = unique("disk")
    store = tmp_path / "store"

    manager = LifespanManager(app, startup_timeout=30, shutdown_timeout=30)
    await manager.__aenter__()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
    ) as client:
        created = await client.post(
            "/api/v1/storage-locations",
            json={"name": location, "type": "local", "path": str(store)},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        started = await client.post(
            "/api/v1/backups",
            json={"cluster": src, "storage_location": location, "ttl_hours": 2},
            headers=headers,
        )
        assert started.status_code == 202, started.text
        backup_id = started.json()["id"]
        inserted = await _row(database, backup_id)
        # The New record already carries its expiry, so retention reclaims it whatever happens next.
        assert inserted.expires_at is not None
        assert abs(
            (as_utc(inserted.expires_at) - as_utc(inserted.created_at)) - timedelta(hours=2)
        ) < timedelta(seconds=1)
        assert await asyncio.to_thread(uploading.wait, 20)
    await manager.__aexit__(None, None, None)

    assert await asyncio.to_thread(uploaded.wait, 20)  # the orphan upload did complete
    row = await _row(database, backup_id)
    assert (row.phase, row.error) == ("Failed", "interrupted")
    assert row.expires_at is not None
    assert not any(store.rglob("*.tar.gz"))  # the upload completed after the mark; its key was deleted
