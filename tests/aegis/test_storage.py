"""Storage locations: local directory (atomic) and S3 through moto in server mode (real HTTP)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import pytest
from kubernetes.client import ApiClient

from aegis.backups.phase import Phase
from aegis.backups.runner import run_backup
from aegis.backups.spec import BackupSpec
from aegis.kube.connection import ClusterConnection
from aegis.restores.runner import run_restore
from aegis.restores.spec import RestoreSpec
from aegis.storage import ObjectNotFoundError, StorageConfigError, StorageError, storage_from_spec
from aegis.storage.local import LocalStorage
from aegis.storage.s3 import S3Storage
from tests.aegis.conftest import MOTO_ENV


def make_file(tmp_path: Path, size: int, name: str = "archive.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def test_local_put_read_delete_and_probe(tmp_path: Path) -> None:
    store = storage_from_spec({"name": "disk", "type": "local", "path": str(tmp_path / "store")})
    source = make_file(tmp_path, 300_000)

    stored = store.put_file(source, "backups/b1/b1.tar.gz")

    assert stored.sha256 == hashlib.sha256(source.read_bytes()).hexdigest() and stored.size_bytes == 300_000
    assert store.exists("backups/b1/b1.tar.gz")
    with store.open_read("backups/b1/b1.tar.gz") as stream:
        assert stream.read() == source.read_bytes()
    store.delete("backups/b1/b1.tar.gz")
    store.delete("backups/b1/b1.tar.gz")  # idempotent
    assert not store.exists("backups/b1/b1.tar.gz")
    with pytest.raises(ObjectNotFoundError):
        store.open_read("backups/b1/b1.tar.gz")
    assert store.probe().ok
    assert store.describe() == {"name": "disk", "type": "local", "path": str((tmp_path / "store").resolve())}


def test_local_failed_upload_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    source = make_file(tmp_path, 10_000)

    with pytest.raises(StorageError, match="checksum"):
        store.put_file(source, "backups/b1/b1.tar.gz", sha256="0" * 64)
    with pytest.raises(StorageError):
        store.put_file(tmp_path / "missing", "backups/b2/b2.tar.gz")

    leftovers = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert leftovers == [] and not store.exists("backups/b1/b1.tar.gz")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", ""])
def test_keys_cannot_escape_the_location(tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError):
        LocalStorage(tmp_path).exists(key)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "ftp"},
        {"type": "local"},
        {"type": "s3", "prefix": "x"},
        {"type": "s3", "bucket": "b", "secret_access_key": "nope"},
    ],
)
def test_bad_location_specs_are_refused(spec: dict) -> None:
    with pytest.raises(StorageConfigError):
        storage_from_spec(spec)


def s3_store(endpoint: str, bucket: str, **kwargs) -> S3Storage:
    spec = {"name": "s3a", "type": "s3", "bucket": bucket, "prefix": "aegis/prod", "region": "us-east-1"}
    store = storage_from_spec({**spec, "endpoint_url": endpoint})
    assert isinstance(store, S3Storage)
    for name, value in kwargs.items():
        setattr(store, name, value)
    return store


def test_s3_multipart_upload_with_server_checksum(moto_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    from boto3.s3.transfer import TransferConfig

    store = s3_store(
        moto_endpoint,
        s3_bucket,
        transfer_config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20),
    )
    source = make_file(tmp_path, (5 << 20) * 2 + 1234)  # three parts

    stored = store.put_file(source, "backups/b1/b1.tar.gz")

    raw = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    head = raw.head_object(Bucket=s3_bucket, Key="aegis/prod/backups/b1/b1.tar.gz", ChecksumMode="ENABLED")
    assert head["ContentLength"] == source.stat().st_size
    assert (
        head["Metadata"]["aegis-sha256"] == stored.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    )
    assert head.get("ChecksumSHA256")  # the server verified SHA-256 checksums of the parts
    with store.open_read("backups/b1/b1.tar.gz") as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == stored.sha256
    assert store.exists("backups/b1/b1.tar.gz") and not store.exists("backups/none")
    store.delete("backups/b1/b1.tar.gz")
    assert not store.exists("backups/b1/b1.tar.gz")
    assert store.probe().ok
    assert MOTO_ENV["AWS_SECRET_ACCESS_KEY"] not in repr(store) and MOTO_ENV["AWS_ACCESS_KEY_ID"] not in repr(
        store
    )


def test_s3_failed_upload_leaves_no_half_object(moto_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    from boto3.s3.transfer import TransferConfig

    store = s3_store(
        moto_endpoint,
        s3_bucket,
        transfer_config=TransferConfig(
            multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=1
        ),
    )
    parts: list[int] = []

    def break_third_part(params, **_kwargs) -> None:  # noqa: ANN001 - botocore event signature
        parts.append(params["PartNumber"])
        if params["PartNumber"] == 3:
            raise ConnectionResetError("connection dropped mid-upload")

    store.client.meta.events.register("provide-client-params.s3.UploadPart", break_third_part)
    source = make_file(tmp_path, (5 << 20) * 3 + 10)

    with pytest.raises(StorageError, match="upload of backups/b1/b1.tar.gz"):
        store.put_file(source, "backups/b1/b1.tar.gz")

    raw = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert 3 in parts
    assert raw.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_s3_unreachable_probe_reports_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in MOTO_ENV.items():
        monkeypatch.setenv(key, value)
    from botocore.config import Config

    endpoint = "http://127.0.0.1:9"
    no_retry = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2)
    raw = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=no_retry)
    store = S3Storage("b", endpoint_url=endpoint, region="us-east-1", client=raw)

    result = store.probe()

    assert not result.ok and "s3://b" in (result.error or "")
    assert MOTO_ENV["AWS_SECRET_ACCESS_KEY"] not in (result.error or "")


def test_backup_and_restore_through_s3(
    moto_endpoint: str, s3_bucket: str, source: ApiClient, target_kube, client_for
) -> None:
    store = s3_store(moto_endpoint, s3_bucket)
    backup = run_backup(
        ClusterConnection(source),
        BackupSpec(name="b1", included_namespaces=["blog"]),
        store,
        "backups/b1/b1.tar.gz",
    )
    assert backup.phase is Phase.COMPLETED

    restore = run_restore(
        ClusterConnection(client_for(target_kube)),
        store,
        "backups/b1/b1.tar.gz",
        backup.sha256,
        RestoreSpec(name="r"),
    )

    assert restore.phase is Phase.COMPLETED and restore.counts["created"] > 10
    assert target_kube.fake.get_object("", "configmaps", "blog", "settings") is not None


def test_s3_missing_bucket_probe_reports_error(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in MOTO_ENV.items():
        monkeypatch.setenv(key, value)
    raw = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    store = S3Storage("no-such-bucket-here", endpoint_url=moto_endpoint, region="us-east-1", client=raw)
    result = store.probe()  # boto3's S3UploadFailedError must become a failed probe, not an exception
    assert not result.ok and "no-such-bucket-here" in (result.error or "")
