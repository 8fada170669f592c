"""Key rotation through the API: archives written with an old key restore after rotation, `POST
/api/v1/rekeys` moves them to the current key (local directory and S3 through moto) and they restore with
the new key alone; an unknown key id is named; a rekey that fails verification or is interrupted keeps the
old object and the backup row as they were."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from aegis.archive.crypto import generate_key, peek_key_id
from aegis.backups import repository as backups_repo
from aegis.rekey.metrics import REKEYED
from aegis.restores import repository as restores_repo
from aegis.restores.tables import restore_records
from aegis.storage.base import StoredObject
from aegis.storage.local import LocalStorage
from oco.timeutil import utcnow
from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.scenario import populate
from tests.aegis.test_keys import V1_ARCHIVE, V1_KEY_TEXT, V1_SHA256

K_OLD, K_NEW = generate_key(), generate_key()
ROTATED = {
    "oco_aegis_encryption_key": K_OLD,  # the single-key setting: id "default"
    "oco_aegis_encryption_keys": json.dumps({"2026-12": K_NEW}),
    "oco_aegis_encryption_key_current": "2026-12",
}
NEW_ONLY = {"oco_aegis_encryption_keys": json.dumps({"2026-12": K_NEW})}


@pytest.fixture
def populated(kube, client_for):  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    return kube


@pytest.fixture
def make_env(settings, serve_app, keystore, unique, tmp_path, populated, target_kube):  # type: ignore[no-untyped-def]
    """An aegis app with these key settings on the shared database, called with an admin key."""

    async def make(**keys: Any) -> AegisEnv:
        keys.setdefault(
            "oco_aegis_s3_endpoint_allow", "127.0.0.1"
        )  # moto listens on loopback: allowed explicitly
        env = await start_env(settings, serve_app, keystore, unique, tmp_path, populated, target_kube, **keys)
        admin = await keystore.create(unique("admin"), ["admin"])
        env.headers = {"X-API-Key": admin.plaintext}
        return env

    return make


async def rekey(env: AegisEnv, location: str, **body: Any) -> dict[str, Any]:
    started = await env.ok("POST", "/api/v1/rekeys", 202, json={"storage_location": location, **body})
    if started["dry_run"]:
        return started
    assert started["phase"] in ("New", "InProgress") and started["target_key_id"] == "2026-12"
    return await env.wait_for(f"/api/v1/rekeys/{started['id']}")


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_rotation_old_archives_restore_and_rekey_moves_them(make_env, unique) -> None:  # type: ignore[no-untyped-def]
    before = await make_env(oco_aegis_encryption_key=K_OLD)
    location, untouched = unique("disk"), unique("disk")
    await before.add_local_location(location)
    await before.add_local_location(untouched, "other")
    old = await before.backup(location, included_namespaces=["blog"])
    kept = await before.backup(untouched, included_namespaces=["blog"])
    assert old["encrypted"] and old["encryption_key_id"] == "default"

    after = await make_env(**ROTATED)
    new = await after.backup(location, included_namespaces=["blog"])
    assert new["encryption_key_id"] == "2026-12"
    restored = await after.restore(backup_id=old["id"], cluster=after.dr, namespace_mapping={"blog": "b-old"})
    assert restored["phase"] == "Completed" and restored["results"]["created"] > 5

    plan = await rekey(after, location, dry_run=True)
    assert plan["phase"] == "Completed" and plan["counts"] == {"would_rekey": 1}
    assert [(i["backup_id"], i["from_key_id"], i["outcome"]) for i in plan["items"]] == [
        (old["id"], "default", "would_rekey")
    ]
    assert (await after.ok("GET", f"/api/v1/backups/{old['id']}"))["storage_key"] == old["storage_key"]

    rekeyed_before = REKEYED.labels(outcome="rekeyed")._value.get()
    run = await rekey(after, location)

    assert run["phase"] == "Completed" and run["counts"] == {"rekeyed": 1} and run["items_done"] == 1
    metrics = (await after.client.get("/metrics")).text
    assert REKEYED.labels(outcome="rekeyed")._value.get() == rekeyed_before + 1
    assert 'aegis_rekey_archives_total{outcome="rekeyed"}' in metrics
    item = run["items"][0]
    record = await after.ok("GET", f"/api/v1/backups/{old['id']}")
    assert record["storage_key"] == item["new_storage_key"] != old["storage_key"]
    assert record["encryption_key_id"] == "2026-12" and record["sha256"] != old["sha256"]
    store = after.tmp / "store"
    assert not (store / old["storage_key"]).exists()  # removed only after the new one verified
    assert peek_key_id(store / record["storage_key"]) == (2, "2026-12")
    assert (await rekey(after, location, dry_run=True))["items"] == []  # nothing left on an old key

    only_new = await make_env(**NEW_ONLY)
    again = await only_new.restore(
        backup_id=old["id"], cluster=only_new.dr, namespace_mapping={"blog": "b-re"}
    )
    assert again["phase"] == "Completed" and again["results"]["created"] > 5
    contents = await only_new.ok("GET", f"/api/v1/backups/{old['id']}/contents")
    assert any(i["name"] == "settings" for i in contents["items"])

    # the backup of the other location still names the old key, which is gone now
    refused = await only_new.call(
        "POST", "/api/v1/restores", json={"backup_id": kept["id"], "cluster": only_new.dr}
    )
    error = refused.json()["error"]
    assert refused.status_code == 409 and error["code"] == "encryption_key_unknown"
    assert "'default'" in error["message"] and K_OLD not in refused.text
    listing = await only_new.call("GET", f"/api/v1/backups/{kept['id']}/contents")
    assert listing.status_code == 409 and listing.json()["error"]["code"] == "encryption_key_unknown"


async def test_archive_of_the_old_format_restores_and_is_rekeyed(make_env, unique) -> None:  # type: ignore[no-untyped-def]
    """A backup written before key ids (committed test data: header version 1, no key id recorded)."""
    env = await make_env(
        oco_aegis_encryption_keys=json.dumps({"legacy": V1_KEY_TEXT, "2026-12": K_NEW}),
        oco_aegis_encryption_key_current="2026-12",
    )
    location, name = unique("disk"), unique("v1")
    await env.add_local_location(location)
    key = f"backups/{name}/{name}.tar.gz"
    (env.tmp / "store" / key).parent.mkdir(parents=True)
    shutil.copyfile(V1_ARCHIVE, env.tmp / "store" / key)
    now = utcnow()
    async with env.app.state.database.engine.begin() as conn:
        backup_id = await backups_repo.insert_backup(
            conn,
            name=name,
            cluster=env.src,
            storage_location=location,
            storage_key=key,
            phase="Completed",
            spec={},
            items_total=3,
            items_done=3,
            size_bytes=V1_ARCHIVE.stat().st_size,
            sha256=V1_SHA256,
            encrypted=True,
            created_at=now,
            finished_at=now,
        )

    first = await env.restore(backup_id=backup_id, cluster=env.dr, namespace_mapping={"shop": "shop-v1"})
    assert first["phase"] == "Completed" and first["results"]["created"] == 3, first

    run = await rekey(env, location)
    assert run["counts"] == {"rekeyed": 1} and run["items"][0]["from_key_id"] == "legacy"

    only_new = await make_env(**NEW_ONLY)
    second = await only_new.restore(
        backup_id=backup_id, cluster=only_new.dr, namespace_mapping={"shop": "shop-v2"}
    )
    assert second["phase"] == "Completed" and second["results"]["created"] == 3


class RottingStorage(LocalStorage):
    """Stores altered bytes for every object but a backup's first archive (``<name>/<name>.tar.gz``)."""

    def put_file(
        self, local_path: str | os.PathLike[str], key: str, *, sha256: str | None = None
    ) -> StoredObject:
        stored = super().put_file(local_path, key, sha256=sha256)
        path = Path(key)
        if path.name != f"{path.parent.name}.tar.gz" and not key.startswith(".aegis-probe"):
            target = self.root / key
            data = bytearray(target.read_bytes())
            data[len(data) // 3] ^= 0x01
            target.write_bytes(bytes(data))
        return stored


async def test_rekey_failing_verification_keeps_the_old_archive(make_env, unique, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        "aegis.locations.service.storage_from_spec",
        lambda spec: RottingStorage(spec["path"], name=spec["name"]),
    )
    before = await make_env(oco_aegis_encryption_key=K_OLD)
    location = unique("disk")
    await before.add_local_location(location)
    old = await before.backup(location, included_namespaces=["blog"])
    after = await make_env(**ROTATED)
    stored_before = files(after.tmp / "store")

    run = await rekey(after, location)

    assert run["phase"] == "PartiallyFailed" and run["counts"] == {"failed": 1}
    reason = run["items"][0]["reason"]
    assert "verification of the stored copy failed" in reason and "the old archive is kept" in reason
    record = await after.ok("GET", f"/api/v1/backups/{old['id']}")
    assert {k: record[k] for k in ("storage_key", "sha256", "encryption_key_id")} == {
        k: old[k] for k in ("storage_key", "sha256", "encryption_key_id")
    }
    assert files(after.tmp / "store") == stored_before  # the bad copy was removed, the old one kept
    restored = await after.restore(
        backup_id=old["id"], cluster=after.dr, namespace_mapping={"blog": "b-kept"}
    )
    assert restored["phase"] == "Completed"


class HeldUploads(LocalStorage):
    """Rekey uploads wait until the test releases them (so the run can be interrupted mid-way)."""

    uploading = threading.Event()
    release = threading.Event()

    def put_file(
        self, local_path: str | os.PathLike[str], key: str, *, sha256: str | None = None
    ) -> StoredObject:
        path = Path(key)
        if path.name != f"{path.parent.name}.tar.gz" and not key.startswith(".aegis-probe"):
            type(self).uploading.set()
            type(self).release.wait(30)
        return super().put_file(local_path, key, sha256=sha256)


async def test_interrupted_rekey_leaves_the_rest_on_the_old_key(make_env, unique, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    HeldUploads.uploading.clear()
    HeldUploads.release.clear()
    monkeypatch.setattr(
        "aegis.locations.service.storage_from_spec", lambda spec: HeldUploads(spec["path"], name=spec["name"])
    )
    before = await make_env(oco_aegis_encryption_key=K_OLD)
    location = unique("disk")
    await before.add_local_location(location)
    first = await before.backup(location, included_namespaces=["blog"])
    second = await before.backup(location, included_namespaces=["shop"])
    after = await make_env(**ROTATED)

    started = await after.ok("POST", "/api/v1/rekeys", 202, json={"storage_location": location})
    assert await asyncio.to_thread(HeldUploads.uploading.wait, 30)
    busy = await after.call("POST", "/api/v1/rekeys", json={"storage_location": location})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "rekey_running"
    assert after.app.state.rekey.tracker.cancel(started["id"])
    HeldUploads.release.set()
    run = await after.wait_for(f"/api/v1/rekeys/{started['id']}")

    assert run["phase"] == "Failed" and run["error"] == "interrupted"
    assert [(i["backup_id"], i["outcome"]) for i in run["items"]] == [(first["id"], "rekeyed")]
    untouched = await after.ok("GET", f"/api/v1/backups/{second['id']}")
    assert untouched["storage_key"] == second["storage_key"] and untouched["encryption_key_id"] == "default"
    assert (after.tmp / "store" / second["storage_key"]).exists()
    plan = await rekey(after, location, dry_run=True)
    assert [i["backup_id"] for i in plan["items"]] == [second["id"]]


async def test_rekey_needs_admin_and_a_current_key(make_env, unique, keystore) -> None:  # type: ignore[no-untyped-def]
    env = await make_env()
    aegis_key = await keystore.create(unique("aegis"), ["aegis"])
    forbidden = await env.client.post("/api/v1/rekeys", json={}, headers={"X-API-Key": aegis_key.plaintext})
    assert forbidden.status_code == 403
    none = await env.call("POST", "/api/v1/rekeys", json={})
    assert none.status_code == 409 and none.json()["error"]["code"] == "no_current_key"
    rotated = await make_env(**ROTATED)
    unknown = await rotated.call("POST", "/api/v1/rekeys", json={"storage_location": unique("nowhere")})
    assert unknown.status_code == 422
    stray = await rotated.call("POST", "/api/v1/rekeys", json={"dryrun": True})
    assert stray.status_code == 422
    missing = await rotated.call("GET", "/api/v1/rekeys/999999")
    assert missing.status_code == 404
    page = await rotated.ok("GET", "/api/v1/rekeys")
    assert page["total"] >= 0 and isinstance(page["items"], list)


async def test_rekey_on_s3(make_env, unique, moto_endpoint, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    spec = {
        "type": "s3",
        "bucket": s3_bucket,
        "prefix": "aegis",
        "region": "us-east-1",
        "endpoint_url": moto_endpoint,
    }
    before = await make_env(oco_aegis_encryption_key=K_OLD)
    location = unique("s3")
    await before.ok("POST", "/api/v1/storage-locations", 201, json={"name": location, **spec})
    old = await before.backup(location, included_namespaces=["blog"])
    after = await make_env(**ROTATED)

    run = await rekey(after, location)

    assert run["phase"] == "Completed" and run["counts"] == {"rekeyed": 1}
    record = await after.ok("GET", f"/api/v1/backups/{old['id']}")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=s3_bucket, Key=f"aegis/{old['storage_key']}")
    head = s3.head_object(Bucket=s3_bucket, Key=f"aegis/{record['storage_key']}")
    assert head["ContentLength"] == record["size_bytes"] and record["encryption_key_id"] == "2026-12"
    only_new = await make_env(**NEW_ONLY)
    restored = await only_new.restore(
        backup_id=old["id"], cluster=only_new.dr, namespace_mapping={"blog": "b-s3"}
    )
    assert restored["phase"] == "Completed" and restored["results"]["created"] > 5


async def insert_running_restore(env: AegisEnv, backup_id: int, name: str) -> int:
    now = utcnow()
    async with env.app.state.database.engine.begin() as conn:
        return await restores_repo.insert_restore(
            conn,
            name=name,
            backup_id=backup_id,
            cluster=env.dr,
            spec={},
            phase="InProgress",
            dry_run=False,
            created_at=now,
            heartbeat_at=now,
            owner=env.app.state.restores.tracker.owner,
        )


async def finish_restore(env: AegisEnv, restore_id: int) -> None:
    async with env.app.state.database.engine.begin() as conn:
        await conn.execute(
            sa.update(restore_records).where(restore_records.c.id == restore_id).values(phase="Completed")
        )


async def test_a_restore_that_starts_during_rekey_keeps_its_archive(make_env, unique, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The switch happens only while no restore reads the backup, and the old object is removed only
    once restores that may have read the old row have ended."""
    HeldUploads.uploading.clear()
    HeldUploads.release.clear()
    monkeypatch.setattr(
        "aegis.locations.service.storage_from_spec", lambda spec: HeldUploads(spec["path"], name=spec["name"])
    )
    before = await make_env(oco_aegis_encryption_key=K_OLD)
    location = unique("disk")
    await before.add_local_location(location)
    old = await before.backup(location, included_namespaces=["blog"])
    after = await make_env(**ROTATED)

    started = await after.ok("POST", "/api/v1/rekeys", 202, json={"storage_location": location})
    assert await asyncio.to_thread(HeldUploads.uploading.wait, 30)
    restore_id = await insert_running_restore(after, old["id"], unique("r"))  # begins while the copy uploads
    HeldUploads.release.set()
    run = await after.wait_for(f"/api/v1/rekeys/{started['id']}")

    assert run["counts"] == {"skipped": 1} and "changed during rekey" in run["items"][0]["reason"]
    assert (await after.ok("GET", f"/api/v1/backups/{old['id']}"))["storage_key"] == old["storage_key"]
    assert files(after.tmp / "store") == [old["storage_key"]]  # the unused new copy was removed
    await finish_restore(after, restore_id)

    service = after.app.state.rekey
    monkeypatch.setattr("aegis.rekey.service.READER_WAIT_S", 0.3)
    monkeypatch.setattr("aegis.rekey.service.READER_POLL_S", 0.05)
    reader = await insert_running_restore(after, old["id"], unique("r"))
    assert "still reading" in (await service._wait_for_readers(old["id"], threading.Event()) or "")
    monkeypatch.setattr("aegis.rekey.service.READER_WAIT_S", 30.0)
    waiting = asyncio.create_task(service._wait_for_readers(old["id"], threading.Event()))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # still waiting for the reader
    await finish_restore(after, reader)
    assert await waiting is None
