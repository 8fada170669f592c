"""The storage backend contract for backup archives: put a local file, read, delete, exists, probe.

Backends are synchronous and safe to use from worker threads. A failed ``put_file`` leaves no
object (and no partial object) under the key. Errors never carry credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9._=+@,-]+$")


class StorageError(Exception):
    """A storage operation failed (message is safe to show)."""


class StorageConfigError(StorageError):
    """A storage location spec is invalid."""


class ObjectNotFoundError(StorageError):
    """No object under the key."""


class ObjectLockedError(StorageError):
    """The object is under a retention lock (S3 Object Lock) until ``until``: it cannot be deleted yet.
    Nothing was changed."""

    def __init__(self, key: str, until: datetime, mode: str) -> None:
        super().__init__(
            f"{key} is under S3 Object Lock ({mode}) until {until.isoformat()}; it cannot be deleted before then"
        )
        self.key, self.until, self.mode = key, until, mode


#: probe objects start with this; they are never retention-locked.
PROBE_PREFIX = ".aegis-probe"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    sha256: str
    #: the retention lock set on upload (S3 Object Lock), if any
    retain_until: datetime | None = None


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    error: str | None = None


def validate_key(key: str) -> str:
    """Keys are relative ``a/b/c.tar.gz`` paths of safe segments (no ``..``, no leading ``/``)."""
    segments = key.split("/")
    if not key or any(s in ("", ".", "..") or not _KEY_SEGMENT.match(s) for s in segments):
        raise StorageError(f"invalid storage key {key!r}")
    return key


def sha256_of_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class StorageBackend(ABC):
    """Where archives live. ``type`` is the spec's type name; ``name`` the location's name."""

    type: str = ""

    def __init__(self, name: str = "") -> None:
        self.name = name

    @abstractmethod
    def put_file(
        self, local_path: str | os.PathLike[str], key: str, *, sha256: str | None = None
    ) -> StoredObject:
        """Store the file under ``key`` (replacing any object there), all or nothing.

        ``sha256`` (hex) is the file's checksum when the caller already has it; otherwise it is
        computed. The backend verifies what it stored against it where it can.
        """

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A binary stream of the object (use as a context manager); ObjectNotFoundError if absent."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error. ObjectLockedError (nothing deleted)
        while a retention lock holds it."""

    def locked_until(self, key: str) -> datetime | None:
        """When the object's retention lock ends, if it holds now (None: deletable; no lock here)."""
        return None

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The location's settings, safe to return from the API (never credentials)."""

    def probe(self) -> ProbeResult:
        """Write, read back and delete a small object: proves the location is usable. The probe object
        sits at the top of the location (``.aegis-probe-<uuid>``), so it leaves no directory behind; the
        ``.aegis-probe/`` directory older versions left is removed when empty."""
        self._remove_empty_dir(".aegis-probe")
        key = f"{PROBE_PREFIX}-{uuid.uuid4().hex}"
        payload = os.urandom(64)
        error: str | None = None
        with tempfile.NamedTemporaryFile(prefix="aegis-probe-") as tmp:
            tmp.write(payload)
            tmp.flush()
            try:
                self.put_file(tmp.name, key)
                with self.open_read(key) as stream:
                    if stream.read() != payload:
                        error = "probe object read back differs from what was written"
            except StorageError as exc:
                error = str(exc)
            try:
                self.delete(key)
            except StorageError as exc:
                error = error or f"probe object could not be deleted: {exc}"
        return ProbeResult(error is None, error)

    def _remove_empty_dir(self, name: str) -> None:
        """Remove the directory ``name`` of a filesystem location (one with a ``root`` Path) if empty."""
        root = getattr(self, "root", None)
        if isinstance(root, os.PathLike):
            with contextlib.suppress(OSError):  # absent, not empty, or not ours to remove: nothing to do
                os.rmdir(os.path.join(root, name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"
