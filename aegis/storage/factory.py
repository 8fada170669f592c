"""Build a storage backend from a location spec dict (the body of ``POST /api/v1/storage-locations``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aegis.storage.base import StorageBackend, StorageConfigError
from aegis.storage.local import LocalStorage
from aegis.storage.objectlock import object_lock_from_spec
from aegis.storage.s3 import S3Storage

_LOCAL_KEYS = {"name", "type", "path"}
_S3_KEYS = {
    "name",
    "type",
    "bucket",
    "prefix",
    "region",
    "endpoint_url",
    "server_checksum",
    "object_lock_days",
    "object_lock_mode",
}


def storage_from_spec(spec: Mapping[str, Any]) -> StorageBackend:
    """``{"name", "type": "local", "path"}`` or ``{"name", "type": "s3", "bucket", "prefix", "region", "endpoint_url"}``.

    Raises StorageConfigError naming the problem; unknown keys are refused so typos do not pass silently.
    """
    kind = spec.get("type")
    name = str(spec.get("name") or "")
    if kind == "local":
        _check_keys(spec, _LOCAL_KEYS)
        path = spec.get("path")
        if not path or not isinstance(path, str):
            raise StorageConfigError("a local location needs 'path' (a directory)")
        return LocalStorage(path, name=name)
    if kind == "s3":
        _check_keys(spec, _S3_KEYS)
        bucket = spec.get("bucket")
        if not bucket or not isinstance(bucket, str):
            raise StorageConfigError("an s3 location needs 'bucket'")
        return S3Storage(
            bucket=bucket,
            prefix=str(spec.get("prefix") or ""),
            region=spec.get("region") or None,
            endpoint_url=spec.get("endpoint_url") or None,
            name=name,
            server_checksum=bool(spec.get("server_checksum", True)),
            object_lock=object_lock_from_spec(spec),
        )
    raise StorageConfigError(f"unknown storage type {kind!r} (expected 'local' or 's3')")


def _check_keys(spec: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise StorageConfigError(f"unknown storage location field(s): {', '.join(unknown)}")
