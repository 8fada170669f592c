"""Re-encrypt one stored archive to the current key, streamed through temporary files and verified.

Synchronous (call from a worker thread). Steps: fetch the stored bytes and check their SHA-256; read the
old archive through once (gzip trailer, metadata, tar members: a damaged archive is never re-sealed);
stream its plaintext into a new file sealed with the current key, hashing the plaintext; read the new
file back (decrypt, plaintext digest, member count, key id); upload it under a NEW object name; fetch
what was stored and check its SHA-256. Nothing is ever held whole in memory (one chunk at a time).
The old object is never touched here: the caller switches the backup row, then removes it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from aegis.archive.crypto import DecryptingReader, DecryptionError, EncryptingWriter
from aegis.archive.keys import KeyRing
from aegis.archive.reader import ArchiveIntegrityError, ArchiveReader, copy_verified
from aegis.archive.writer import HashingSink
from aegis.storage.base import StorageBackend, StorageError

COPY_CHUNK = 1024 * 1024


class RekeyFailed(Exception):
    """This archive was not rekeyed; the old object and the backup row are as they were."""


class RekeyCancelled(RekeyFailed):
    """The run was asked to stop before this archive was done."""


@dataclass(frozen=True)
class Rekeyed:
    """A verified new object, stored; the backup row still points at the old one."""

    storage_key: str
    sha256: str
    size_bytes: int
    key_id: str
    from_key_id: str | None  # the id that opened the old archive (None: it was not encrypted)
    members: int
    retain_until: datetime | None


def new_object_key(old_key: str, backup_name: str, key_id: str) -> str:
    """A fresh object name beside the old one: archives are written once and never rewritten in place."""
    folder = old_key.rsplit("/", 1)[0] + "/" if "/" in old_key else ""
    return f"{folder}{backup_name}.{key_id}.{secrets.token_hex(4)}.tar.gz"


def rekey_archive(
    storage: StorageBackend,
    storage_key: str,
    expected_sha256: str,
    backup_name: str,
    keys: KeyRing,
    *,
    work_dir: str | os.PathLike[str] | None = None,
    cancel: threading.Event | None = None,
) -> Rekeyed:
    """Store a copy of the archive at ``storage_key`` sealed with the current key; RekeyFailed (nothing
    left behind but possibly the new object when removing it failed, named in the message) otherwise."""
    if keys.current_id is None or keys.current_key is None:
        raise RekeyFailed("no current encryption key is configured")
    with tempfile.TemporaryDirectory(prefix="aegis-rekey-", dir=work_dir) as tmp:
        old, new, check = Path(tmp) / "old", Path(tmp) / "new", Path(tmp) / "check"
        try:
            with storage.open_read(storage_key) as source:
                copy_verified(source, old, expected_sha256)
            _stop_if(cancel)
            old_reader = ArchiveReader(old, keys)
            members = _members(old_reader)
            _stop_if(cancel)
            plain_sha, size, sha = _reseal(old, new, old_reader.encrypted, keys, cancel)
            _verify(new, keys, plain_sha, members)
        except (ArchiveIntegrityError, DecryptionError) as exc:
            raise RekeyFailed(f"verification failed: {exc}") from None
        except StorageError as exc:
            raise RekeyFailed(f"cannot read the archive: {exc}") from None
        except OSError as exc:
            raise RekeyFailed(f"cannot stage the archive locally: {exc.strerror or exc}") from None
        _stop_if(cancel)
        target = new_object_key(storage_key, backup_name, keys.current_id)
        try:
            stored = storage.put_file(new, target, sha256=sha)
        except StorageError as exc:
            raise RekeyFailed(f"upload of the re-encrypted archive failed: {exc}") from None
        try:
            with storage.open_read(target) as source:
                copy_verified(source, check, sha)
        except (ArchiveIntegrityError, StorageError, OSError) as exc:
            raise RekeyFailed(
                f"verification of the stored copy failed: {exc}{_drop(storage, target)}"
            ) from None
    return Rekeyed(
        storage_key=target,
        sha256=sha,
        size_bytes=size,
        key_id=keys.current_id,
        from_key_id=old_reader.key_id,
        members=members,
        retain_until=stored.retain_until,
    )


def drop_object(storage: StorageBackend, key: str) -> str | None:
    """Remove an object quietly; the reason when it could not be removed."""
    try:
        storage.delete(key)
    except StorageError as exc:
        return str(exc)
    return None


def _drop(storage: StorageBackend, key: str) -> str:
    error = drop_object(storage, key)
    return f" (and the new object {key} could not be removed: {error})" if error else ""


def _members(reader: ArchiveReader) -> int:
    for _entry in reader.entries():
        pass
    return reader.members


def _reseal(
    old: Path, new: Path, encrypted: bool, keys: KeyRing, cancel: threading.Event | None
) -> tuple[str, int, str]:
    """Stream the old archive's plaintext into ``new`` sealed with the current key. Returns (plaintext
    SHA-256, new file size, new file SHA-256)."""
    assert keys.current_key is not None and keys.current_id is not None
    plain = hashlib.sha256()
    with open(old, "rb") as raw, open(new, "wb") as out:
        source: BinaryIO = DecryptingReader(raw, keys) if encrypted else raw  # type: ignore[assignment]
        sink = HashingSink(out)
        writer = EncryptingWriter(sink, keys.current_key, key_id=keys.current_id)
        while chunk := source.read(COPY_CHUNK):
            plain.update(chunk)
            writer.write(chunk)
            _stop_if(cancel)
        writer.close()
        out.flush()
        os.fsync(out.fileno())
    return plain.hexdigest(), sink.size, sink.hexdigest()


def _verify(new: Path, keys: KeyRing, plain_sha: str, members: int) -> None:
    """Decrypt the new file: same plaintext digest, same members, sealed with the current key."""
    digest = hashlib.sha256()
    with open(new, "rb") as raw:
        reader = DecryptingReader(raw, keys)
        if reader.named_key_id != keys.current_id:
            raise ArchiveIntegrityError("the new archive does not name the current key")
        while chunk := reader.read(COPY_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != plain_sha:
        raise ArchiveIntegrityError("the new archive's content differs from the old one's")
    check = ArchiveReader(new, keys)
    if _members(check) != members:
        raise ArchiveIntegrityError(f"the new archive holds {check.members} entries, the old one {members}")


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise RekeyCancelled("interrupted")
