"""Runs never stay InProgress: records left by a dead process are marked Failed "interrupted" on start-up,
and shutdown cancels running backups (through the engine's cancel event) and marks them the same way."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from aegis.app import create_app
from aegis.backups.tables import backup_records
from aegis.restores.tables import restore_records
from oco.timeutil import utcnow
from tests.aegis.api_env import aegis_settings, clusters_file
from tests.aegis.fake_kube import Fault
from tests.aegis.scenario import populate


async def _insert_stale_runs(database, unique) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """A backup and a restore InProgress since an hour ago (heartbeat as old), and a fresh backup."""
    long_ago = utcnow() - timedelta(hours=1)
    common = {
        "cluster": "gone",
        "storage_location": "gone",
        "spec": {},
        "items_total": 10,
        "items_done": 3,
        "counts": {},
        "errors": [],
        "warnings": [],
        "size_bytes": 0,
        "encrypted": False,
    }
    async with database.engine.begin() as conn:
        stale = (
            await conn.execute(
                sa.insert(backup_records)
                .values(
                    name=unique("crashed"),
                    storage_key="backups/x/x.tar.gz",
                    phase="InProgress",
                    owner="dead-process",
                    heartbeat_at=long_ago,
                    created_at=long_ago,
                    started_at=long_ago,
                    **common,
                )
                .returning(backup_records.c.id)
            )
        ).scalar_one()
        fresh = (
            await conn.execute(
                sa.insert(backup_records)
                .values(
                    name=unique("alive"),
                    storage_key="backups/y/y.tar.gz",
                    phase="InProgress",
                    owner="live-process",
                    heartbeat_at=utcnow(),
                    created_at=long_ago,
                    **common,
                )
                .returning(backup_records.c.id)
            )
        ).scalar_one()
        restore = (
            await conn.execute(
                sa.insert(restore_records)
                .values(
                    name=unique("crashed-restore"),
                    backup_id=stale,
                    cluster="gone",
                    spec={},
                    phase="New",
                    dry_run=False,
                    items_total=0,
                    items_done=0,
                    created_count=0,
                    updated_count=0,
                    skipped_count=0,
                    failed_count=0,
                    results=[],
                    not_planned={},
                    warnings=[],
                    heartbeat_at=long_ago,
                    created_at=long_ago,
                )
                .returning(restore_records.c.id)
            )
        ).scalar_one()
    return stale, fresh, restore


async def _phase(database, table, row_id: int) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    async with database.engine.connect() as conn:
        row = (await conn.execute(sa.select(table.c.phase, table.c.error).where(table.c.id == row_id))).one()
    return row.phase, row.error


async def test_runs_of_a_dead_process_are_marked_interrupted_on_start(  # type: ignore[no-untyped-def]
    settings, serve_app, database, unique, tmp_path, kube
) -> None:
    stale, fresh, restore = await _insert_stale_runs(database, unique)

    app = create_app(aegis_settings(settings, tmp_path, clusters_file(tmp_path, {"src": kube})))
    await serve_app(app)

    assert await _phase(database, backup_records, stale) == ("Failed", "interrupted")
    assert await _phase(database, restore_records, restore) == ("Failed", "interrupted")
    if app.state.kv.backend == "memory":
        # The in-process kv means one process: whatever is unfinished at start-up was left by a dead one.
        assert await _phase(database, backup_records, fresh) == ("Failed", "interrupted")
    else:
        # A run whose process still beats is not touched (another replica may be running it).
        assert await _phase(database, backup_records, fresh) == ("InProgress", None)
    async with database.engine.begin() as conn:  # tidy: do not leave it for other tests' reapers
        await conn.execute(sa.delete(backup_records).where(backup_records.c.id == fresh))


async def test_shutdown_interrupts_a_running_backup(  # type: ignore[no-untyped-def]
    settings, database, keystore, unique, tmp_path, kube, client_for
) -> None:
    populate(client_for(kube))
    for i in range(600):  # two pages of config maps in `bulk`
        kube.fake.seed(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "bulk"}}
        )
    kube.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}})
    # The second page is throttled for 1 s: the backup is surely running when the service stops.
    slow = kube.fake.add_fault(
        Fault("GET", "/api/v1/namespaces/bulk/configmaps", 429, times=1, retry_after=1, query_key="continue")
    )
    src = unique("src")
    app = create_app(aegis_settings(settings, tmp_path, clusters_file(tmp_path, {src: kube})))
    key = await keystore.create(unique("aegis"), ["aegis"])
    headers = {"X-API-Key": key.plaintext}
    location = unique("disk")

    manager = LifespanManager(app, startup_timeout=30, shutdown_timeout=30)
    await manager.__aenter__()
    import httpx

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
    ) as client:
        created = await client.post(
            "/api/v1/storage-locations",
            json={"name": location, "type": "local", "path": str(tmp_path / "store")},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        started = await client.post(
            "/api/v1/backups",
            json={"cluster": src, "storage_location": location, "included_namespaces": ["bulk"]},
            headers=headers,
        )
        assert started.status_code == 202, started.text
        backup_id = started.json()["id"]
        for _ in range(200):
            if slow.hits:
                break
            await asyncio.sleep(0.02)
        assert slow.hits == 1
        running = (await client.get(f"/api/v1/backups/{backup_id}", headers=headers)).json()
        assert running["phase"] == "InProgress"
    await manager.__aexit__(None, None, None)

    assert await _phase(database, backup_records, backup_id) == ("Failed", "interrupted")
    assert not any((tmp_path / "store").rglob("*.tar.gz"))
    assert not any((tmp_path / "work").iterdir())
