"""S3 Object Lock retention (moto in server mode, the real S3 protocol over loopback): a location with
`object_lock_days` is validated and probed, uploads carry ObjectLockMode and RetainUntilDate, and deleting a
locked backup early (DELETE, retention, rekey) is refused or deferred with nothing changed."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa

from aegis.archive.crypto import generate_key
from aegis.backups.tables import backup_records
from aegis.storage.base import ObjectLockedError
from aegis.storage.objectlock import ObjectLockPolicy
from aegis.storage.s3 import MiB, S3Storage
from oco.timeutil import as_utc, utcnow
from tests.aegis.api_env import start_env
from tests.aegis.scenario import populate

MOTO_ALLOWED = {"oco_aegis_s3_endpoint_allow": "127.0.0.1"}  # moto listens on loopback: allowed explicitly


@pytest.fixture
def populated(kube, client_for):  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    return kube


@pytest.fixture
def locked_bucket(moto_endpoint: str) -> str:
    name = f"aegis-lock-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=name, ObjectLockEnabledForBucket=True
    )
    return name


def s3(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def big_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("size", [1024, 6 * MiB])  # one PUT, and a multipart upload
def test_uploads_carry_the_retention(
    tmp_path: Path, moto_endpoint: str, locked_bucket: str, size: int
) -> None:
    storage = S3Storage(
        locked_bucket,
        endpoint_url=moto_endpoint,
        region="us-east-1",
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
        object_lock=ObjectLockPolicy(3, "GOVERNANCE"),
    )
    start = utcnow()

    stored = storage.put_file(big_file(tmp_path, size), "backups/a/a.tar.gz")

    head = s3(moto_endpoint).head_object(Bucket=locked_bucket, Key="backups/a/a.tar.gz")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = as_utc(head["ObjectLockRetainUntilDate"])
    assert stored.retain_until == until
    assert start + timedelta(days=3) - timedelta(seconds=2) <= until <= utcnow() + timedelta(days=3)
    with pytest.raises(ObjectLockedError, match="GOVERNANCE"):
        storage.delete("backups/a/a.tar.gz")
    assert storage.exists("backups/a/a.tar.gz")


def test_delete_after_the_lock_removes_every_version(
    tmp_path: Path, moto_endpoint: str, locked_bucket: str
) -> None:
    client = s3(moto_endpoint)
    storage = S3Storage(
        locked_bucket, endpoint_url=moto_endpoint, region="us-east-1", object_lock=ObjectLockPolicy(1)
    )
    client.put_object(
        Bucket=locked_bucket,
        Key="backups/b/b.tar.gz",
        Body=b"archive",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=utcnow() + timedelta(seconds=2),
        ChecksumAlgorithm="SHA256",
    )
    with pytest.raises(ObjectLockedError):
        storage.delete("backups/b/b.tar.gz")
    time.sleep(2.5)

    storage.delete("backups/b/b.tar.gz")

    versions = client.list_object_versions(Bucket=locked_bucket, Prefix="backups/b/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    storage.delete("backups/b/b.tar.gz")  # a missing key is not an error


async def test_object_lock_location_backup_delete_retention_and_rekey(  # type: ignore[no-untyped-def]
    settings,
    serve_app,
    keystore,
    unique,
    tmp_path,
    populated,
    target_kube,
    moto_endpoint,
    locked_bucket,
    s3_bucket,
) -> None:
    keys = {
        "oco_aegis_encryption_keys": json.dumps({"a": generate_key()}),
        "oco_aegis_encryption_key_current": "a",
    }
    env = await start_env(
        settings, serve_app, keystore, unique, tmp_path, populated, target_kube, **MOTO_ALLOWED
    )
    spec = {"type": "s3", "bucket": locked_bucket, "region": "us-east-1", "endpoint_url": moto_endpoint}

    for bad in (
        {"object_lock_days": 0},
        {"object_lock_days": 40000},
        {"object_lock_days": "3"},
        {"object_lock_days": 1.5},
        {"object_lock_days": 3, "object_lock_mode": "FOREVER"},
        {"object_lock_mode": "GOVERNANCE"},
    ):
        refused = await env.call(
            "POST", "/api/v1/storage-locations", json={"name": unique("l"), **spec, **bad}
        )
        assert refused.status_code == 422, (bad, refused.text)
    local = await env.call(
        "POST",
        "/api/v1/storage-locations",
        json={"name": unique("l"), "type": "local", "path": str(tmp_path / "x"), "object_lock_days": 3},
    )
    assert local.status_code == 422
    unlocked = await env.call(
        "POST",
        "/api/v1/storage-locations",
        json={"name": unique("l"), **spec, "bucket": s3_bucket, "object_lock_days": 3},
    )
    assert unlocked.status_code == 400
    assert f"bucket {s3_bucket!r} does not have it enabled" in unlocked.json()["error"]["message"]

    name = unique("locked")
    location = await env.ok(
        "POST",
        "/api/v1/storage-locations",
        201,
        json={"name": name, **spec, "object_lock_days": 7, "object_lock_mode": "GOVERNANCE"},
    )
    assert location["object_lock_days"] == 7 and location["object_lock_mode"] == "GOVERNANCE"
    assert not s3(moto_endpoint).list_object_versions(Bucket=locked_bucket).get("Versions")  # probe gone

    backup = await env.backup(name, included_namespaces=["blog"], ttl_hours=1)
    assert backup["phase"] == "Completed", backup
    head = s3(moto_endpoint).head_object(Bucket=locked_bucket, Key=backup["storage_key"])
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert as_utc(head["ObjectLockRetainUntilDate"]) == datetime.fromisoformat(backup["retain_until"])

    deleted = await env.call("DELETE", f"/api/v1/backups/{backup['id']}")
    assert deleted.status_code == 409 and deleted.json()["error"]["code"] == "archive_locked"
    assert (
        "Object Lock" in deleted.json()["error"]["message"] and "until" in deleted.json()["error"]["message"]
    )

    # retention past the TTL waits for the lock instead of failing half way
    async with env.app.state.database.engine.begin() as conn:
        await conn.execute(
            sa.update(backup_records)
            .where(backup_records.c.id == backup["id"])
            .values(expires_at=utcnow() - timedelta(hours=1))
        )
    await env.app.state.scheduler.tick()
    assert (await env.ok("GET", f"/api/v1/backups/{backup['id']}"))["phase"] == "Completed"

    # the bucket itself is the authority: without the recorded time the storage check still refuses
    async with env.app.state.database.engine.begin() as conn:
        await conn.execute(
            sa.update(backup_records).where(backup_records.c.id == backup["id"]).values(retain_until=None)
        )
    again = await env.call("DELETE", f"/api/v1/backups/{backup['id']}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "archive_locked"
    assert (await env.ok("GET", f"/api/v1/backups/{backup['id']}"))["phase"] == "Completed"
    s3(moto_endpoint).head_object(Bucket=locked_bucket, Key=backup["storage_key"])  # still there

    # rekey cannot remove the old object before its time: it skips the archive, nothing written
    rekeying = await start_env(
        settings, serve_app, keystore, unique, tmp_path, populated, target_kube, **keys, **MOTO_ALLOWED
    )
    admin = await keystore.create(unique("admin"), ["admin"])
    rekeying.headers = {"X-API-Key": admin.plaintext}
    run = await rekeying.ok(
        "POST", "/api/v1/rekeys", 202, json={"storage_location": name, "include_unencrypted": True}
    )
    run = await rekeying.wait_for(f"/api/v1/rekeys/{run['id']}")
    assert run["phase"] == "Completed" and run["counts"] == {"skipped": 1}
    assert "S3 Object Lock until" in run["items"][0]["reason"]
    objects = s3(moto_endpoint).list_object_versions(Bucket=locked_bucket).get("Versions") or []
    assert [o["Key"] for o in objects] == [backup["storage_key"]]
