"""S3 (or any S3-compatible endpoint) as a storage location, through boto3.

Uploads go through ``upload_file`` (multipart above the threshold) with ``ChecksumAlgorithm=SHA256``
so the server verifies every part; the archive's own SHA-256 is kept as object metadata. A failed
upload aborts its multipart upload, so no half object is ever visible. Credentials come from
boto3's default chain (environment, profile, instance/IRSA role) and are never stored or shown.

With an Object Lock policy (aegis.storage.objectlock) uploads carry the retention; ``delete`` first reads
the object's retention and refuses (ObjectLockedError, nothing changed) while it holds, then removes every
version of the key (a versioned bucket would otherwise keep the data behind a delete marker).
"""

from __future__ import annotations

import contextlib
import io
import os
from datetime import datetime
from typing import Any, BinaryIO

import boto3
import urllib3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, InvalidRegionError

from aegis.storage.base import (
    PROBE_PREFIX,
    ObjectLockedError,
    ObjectNotFoundError,
    ProbeResult,
    StorageBackend,
    StorageConfigError,
    StorageError,
    StoredObject,
    sha256_of_file,
    validate_key,
)
from aegis.storage.objectlock import ObjectLockPolicy
from oco.timeutil import as_utc, utcnow

MiB = 1024 * 1024
SHA256_METADATA = "aegis-sha256"


class S3Storage(StorageBackend):
    type = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        *,
        name: str = "",
        server_checksum: bool = True,
        multipart_threshold: int = 16 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 4,
        client: Any = None,
        object_lock: ObjectLockPolicy | None = None,
    ) -> None:
        super().__init__(name)
        if not bucket:
            raise StorageError("an s3 location needs a bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self.endpoint_url = endpoint_url
        self.server_checksum = server_checksum
        self.object_lock = object_lock
        try:
            self.client = client or boto3.session.Session().client(
                "s3",
                region_name=region,
                endpoint_url=endpoint_url,
                config=Config(
                    retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=60
                ),
            )
        except (InvalidRegionError, ValueError) as exc:  # botocore refuses the region or endpoint URL
            raise StorageConfigError(
                f"an s3 location's region or endpoint_url is not valid: {type(exc).__name__}"
            ) from None
        self.transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(
        self, local_path: str | os.PathLike[str], key: str, *, sha256: str | None = None
    ) -> StoredObject:
        object_key = self._key(key)
        digest = sha256 or sha256_of_file(local_path)
        size = os.path.getsize(local_path)
        extra: dict[str, Any] = {"Metadata": {SHA256_METADATA: digest}}
        if self.server_checksum or self.object_lock is not None:  # S3 wants a checksum with a lock
            extra["ChecksumAlgorithm"] = "SHA256"
        retain_until = None
        if self.object_lock is not None and not key.startswith(PROBE_PREFIX):
            retain_until = self.object_lock.retain_until(utcnow())
            extra["ObjectLockMode"] = self.object_lock.mode
            extra["ObjectLockRetainUntilDate"] = retain_until
        try:
            self.client.upload_file(
                os.fspath(local_path), self.bucket, object_key, ExtraArgs=extra, Config=self.transfer_config
            )
            head = self.client.head_object(Bucket=self.bucket, Key=object_key)
        except (ClientError, BotoCoreError, Boto3Error, OSError) as exc:
            self._abort_uploads(object_key)
            raise StorageError(f"upload of {key} to s3://{self.bucket} failed: {_describe(exc)}") from None
        except BaseException:
            self._abort_uploads(object_key)
            raise
        if head.get("ContentLength") != size:
            self._delete_quietly(object_key)
            raise StorageError(f"upload of {key} failed: stored size differs from the archive's")
        if retain_until is not None and not self._retained(object_key, head, retain_until):
            # never report an unprotected archive as protected
            self._delete_quietly(object_key)
            raise StorageError(
                f"upload of {key} failed: s3://{self.bucket} did not apply the Object Lock retention"
                " (is Object Lock enabled on the bucket?)"
            )
        return StoredObject(key=key, size_bytes=size, sha256=digest, retain_until=retain_until)

    def _retained(self, object_key: str, head: dict[str, Any], retain_until: datetime) -> bool:
        """Whether the object carries the retention; set it with PutObjectRetention when the upload's
        headers were not applied (some S3-compatible stores, and moto, ignore them on multipart uploads)."""
        assert self.object_lock is not None
        if head.get("ObjectLockMode") == self.object_lock.mode:
            return True
        try:
            self.client.put_object_retention(
                Bucket=self.bucket,
                Key=object_key,
                Retention={"Mode": self.object_lock.mode, "RetainUntilDate": retain_until},
                ChecksumAlgorithm="SHA256",
            )
            head = self.client.head_object(Bucket=self.bucket, Key=object_key)
        except (ClientError, BotoCoreError):
            return False
        return head.get("ObjectLockMode") == self.object_lock.mode

    def open_read(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFoundError(f"no object {key!r} in s3://{self.bucket}/{self.prefix}") from None
            raise StorageError(f"cannot read {key} from s3://{self.bucket}: {_describe(exc)}") from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot read {key} from s3://{self.bucket}: {_describe(exc)}") from None
        return _ObjectStream(response["Body"], f"{key} from s3://{self.bucket}")  # type: ignore[return-value]

    def delete(self, key: str) -> None:
        object_key = self._key(key)
        if self.object_lock is None:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=object_key)
            except (ClientError, BotoCoreError) as exc:
                raise StorageError(f"cannot delete {key} from s3://{self.bucket}: {_describe(exc)}") from None
            return
        until = self.locked_until(key)
        if until is not None:
            raise ObjectLockedError(key, until, self._lock_mode(object_key))
        try:
            for version_id in self._versions(object_key):
                self.client.delete_object(Bucket=self.bucket, Key=object_key, VersionId=version_id)
        except ClientError as exc:
            if _code(exc) == "AccessDenied":  # a lock set outside aegis (a longer retention, a legal hold)
                raise StorageError(
                    f"cannot delete {key} from s3://{self.bucket}: S3 refused ({_describe(exc)}); a retention"
                    " or legal hold set on the object may still hold it"
                ) from None
            raise StorageError(f"cannot delete {key} from s3://{self.bucket}: {_describe(exc)}") from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot delete {key} from s3://{self.bucket}: {_describe(exc)}") from None

    def locked_until(self, key: str) -> datetime | None:
        """The retention end of the object's current version while it is in the future (None otherwise,
        also for a missing object)."""
        head = self._head(key)
        until = head.get("ObjectLockRetainUntilDate") if head else None
        if until is None:
            return None
        until = as_utc(until)
        return until if until > utcnow() else None

    def probe(self) -> ProbeResult:
        """With an Object Lock policy, first check that the bucket has Object Lock enabled (only a bucket
        created with it can lock objects), then the write/read/delete probe (probe objects are not locked)."""
        if self.object_lock is not None:
            error = self._object_lock_error()
            if error is not None:
                return ProbeResult(False, error)
        return super().probe()

    def _object_lock_error(self) -> str | None:
        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in ("ObjectLockConfigurationNotFoundError", "InvalidRequest"):
                config = {}
            else:
                return f"cannot read the Object Lock configuration of s3://{self.bucket}: {_describe(exc)}"
        except BotoCoreError as exc:
            return f"cannot read the Object Lock configuration of s3://{self.bucket}: {_describe(exc)}"
        enabled = (config.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            return (
                f"object_lock_days needs S3 Object Lock, and bucket {self.bucket!r} does not have it enabled"
                " (Object Lock can only be turned on for a bucket created with it: create the bucket with"
                " Object Lock enabled, or drop object_lock_days)"
            )
        return None

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"cannot check {key} in s3://{self.bucket}: {_describe(exc)}") from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot check {key} in s3://{self.bucket}: {_describe(exc)}") from None

    def _lock_mode(self, object_key: str) -> str:
        with contextlib.suppress(ClientError, BotoCoreError):
            head = self.client.head_object(Bucket=self.bucket, Key=object_key)
            return str(head.get("ObjectLockMode") or "retention")
        return "retention"

    def _versions(self, object_key: str) -> list[str]:
        """Every version id (and delete marker) stored under exactly this key."""
        found: list[str] = []
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=object_key):
            for entry in [*(page.get("Versions") or []), *(page.get("DeleteMarkers") or [])]:
                if entry.get("Key") == object_key and entry.get("VersionId"):
                    found.append(str(entry["VersionId"]))
        return found

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"cannot check {key} in s3://{self.bucket}: {_describe(exc)}") from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot check {key} in s3://{self.bucket}: {_describe(exc)}") from None
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "object_lock_days": self.object_lock.days if self.object_lock else None,
            "object_lock_mode": self.object_lock.mode if self.object_lock else None,
        }

    def _abort_uploads(self, object_key: str) -> None:
        """Belt and braces after a failure: s3transfer aborts its own upload; abort any left over."""
        try:
            listing = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=object_key)
            for upload in listing.get("Uploads") or []:
                if upload.get("Key") == object_key:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=object_key, UploadId=upload["UploadId"]
                    )
        except (ClientError, BotoCoreError):
            pass

    def _delete_quietly(self, object_key: str) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.delete_object(Bucket=self.bucket, Key=object_key)


class _ObjectStream(io.RawIOBase):
    """The object's body; a connection lost mid-download surfaces as StorageError."""

    def __init__(self, body: Any, what: str) -> None:
        self._body = body
        self._what = what

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._body.read(None if size is None or size < 0 else size)
        except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageError(f"reading {self._what} failed: {_describe(exc)}") from None

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip(": ")
    return f"{type(exc).__name__}: {exc}"
