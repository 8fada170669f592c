"""The API with an S3 location (moto in server mode, real S3 protocol over loopback) and with encryption:
archives land under the prefix, downloads verify, deletes remove the object; encryption fails closed."""

from __future__ import annotations

import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError

from aegis.archive.crypto import MAGIC, generate_key
from tests.aegis.api_env import start_env
from tests.aegis.scenario import populate


@pytest.fixture
def populated(kube, client_for):  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    return kube


async def test_s3_location_backup_download_delete(  # type: ignore[no-untyped-def]
    settings, serve_app, keystore, unique, tmp_path, populated, target_kube, moto_endpoint, s3_bucket
) -> None:
    env = await start_env(
        settings,
        serve_app,
        keystore,
        unique,
        tmp_path,
        populated,
        target_kube,
        oco_aegis_s3_endpoint_allow="127.0.0.1",  # moto listens on loopback: allowed explicitly
    )
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = unique("s3")
    location = await env.ok(
        "POST",
        "/api/v1/storage-locations",
        201,
        json={
            "name": name,
            "type": "s3",
            "bucket": s3_bucket,
            "prefix": "aegis/prod",
            "region": "us-east-1",
            "endpoint_url": moto_endpoint,
        },
    )
    assert location["bucket"] == s3_bucket and location["prefix"] == "aegis/prod"
    assert s3.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0  # the probe cleaned up

    missing = await env.call(
        "POST",
        "/api/v1/storage-locations",
        json={
            "name": unique("s3"),
            "type": "s3",
            "bucket": "no-such-bucket-here",
            "endpoint_url": moto_endpoint,
        },
    )
    assert missing.status_code == 400 and "NoSuchBucket" in missing.json()["error"]["message"]

    backup = await env.backup(name, included_namespaces=["shop"])
    assert backup["phase"] == "Completed", backup
    key = f"aegis/prod/{backup['storage_key']}"
    head = s3.head_object(Bucket=s3_bucket, Key=key)
    assert head["ContentLength"] == backup["size_bytes"]

    download = await env.call("GET", f"/api/v1/backups/{backup['id']}/download")
    assert hashlib.sha256(download.content).hexdigest() == backup["sha256"]

    restore = await env.restore(backup_id=backup["id"], cluster=env.dr)
    assert restore["phase"] == "Completed" and restore["results"]["failed"] == 0

    await env.ok("DELETE", f"/api/v1/backups/{backup['id']}")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=s3_bucket, Key=key)


async def test_encrypted_backup_round_trip(  # type: ignore[no-untyped-def]
    settings, serve_app, keystore, unique, tmp_path, populated, target_kube
) -> None:
    env = await start_env(
        settings,
        serve_app,
        keystore,
        unique,
        tmp_path,
        populated,
        target_kube,
        oco_aegis_encryption_key=generate_key(),
        oco_aegis_require_encryption=True,
    )
    location = unique("disk")
    await env.add_local_location(location)

    backup = await env.backup(location, included_namespaces=["blog"])

    assert backup["phase"] == "Completed" and backup["encrypted"] is True
    stored = (env.tmp / "store" / backup["storage_key"]).read_bytes()
    assert stored.startswith(MAGIC) and b"settings" not in stored
    download = await env.call("GET", f"/api/v1/backups/{backup['id']}/download")
    assert download.content == stored and download.headers["content-disposition"].endswith('.aegisenc"')
    contents = await env.ok("GET", f"/api/v1/backups/{backup['id']}/contents")
    assert any(i["name"] == "settings" and i["namespace"] == "blog" for i in contents["items"])
    restore = await env.restore(backup_id=backup["id"], cluster=env.dr, namespace_mapping={"blog": "b2"})
    assert restore["phase"] == "Completed" and restore["results"]["created"] > 5


async def test_tampered_archive_is_refused(  # type: ignore[no-untyped-def]
    settings, serve_app, keystore, unique, tmp_path, populated, target_kube
) -> None:
    env = await start_env(settings, serve_app, keystore, unique, tmp_path, populated, target_kube)
    location = unique("disk")
    await env.add_local_location(location)
    backup = await env.backup(location, included_namespaces=["blog"])
    archive = env.tmp / "store" / backup["storage_key"]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))

    contents = await env.call("GET", f"/api/v1/backups/{backup['id']}/contents")
    assert contents.status_code == 409 and contents.json()["error"]["code"] == "archive_corrupt"
    restore = await env.restore(backup_id=backup["id"], cluster=env.dr)
    assert restore["phase"] == "Failed" and "checksum" in restore["error"].lower()
    assert restore["results"]["created"] == 0


async def test_required_encryption_without_a_key_refuses_backups(  # type: ignore[no-untyped-def]
    settings, serve_app, keystore, unique, tmp_path, populated, target_kube
) -> None:
    env = await start_env(
        settings,
        serve_app,
        keystore,
        unique,
        tmp_path,
        populated,
        target_kube,
        oco_aegis_require_encryption=True,
    )
    location = unique("disk")
    await env.add_local_location(location)

    refused = await env.call(
        "POST", "/api/v1/backups", json={"cluster": env.src, "storage_location": location}
    )

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "encryption_required" and "OCO_AEGIS_ENCRYPTION_KEY" in error["message"]
    assert (await env.ok("GET", "/api/v1/backups", params={"cluster": env.src}))["total"] == 0
