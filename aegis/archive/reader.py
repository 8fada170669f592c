"""Reads archives: checksum of the stored bytes first, then streamed decryption, listing and objects.

Synchronous. Every structural problem (altered bytes, truncation, wrong key, missing metadata)
raises :class:`ArchiveIntegrityError` with a message fit for an API response.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from aegis.archive.crypto import MAGIC, DecryptingReader, DecryptionError, KeyNotConfiguredError, Keys
from aegis.archive.layout import METADATA_PATH, VERSION_PATH, ArchiveEntry, parse_object_path

COPY_CHUNK = 1024 * 1024


class ArchiveIntegrityError(Exception):
    """The archive cannot be trusted: altered, truncated, not ours, or not decryptable with this key."""


class ArchiveKeyMissingError(ArchiveIntegrityError):
    """The archive names a key id that is not configured (``key_id``); the archive itself may be fine."""

    def __init__(self, message: str, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


@dataclass
class ArchiveContents:
    entries: list[ArchiveEntry] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def copy_verified(source: BinaryIO, dest: str | os.PathLike[str], expected_sha256: str) -> int:
    """Copy ``source`` to ``dest`` hashing as it goes; on a mismatch remove ``dest`` and raise.

    Returns the size. This is how an archive is fetched from storage before anything reads it.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with open(dest, "wb") as out:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except BaseException:
        Path(dest).unlink(missing_ok=True)
        raise
    actual = digest.hexdigest()
    if actual != expected_sha256.strip().lower():
        Path(dest).unlink(missing_ok=True)
        raise ArchiveIntegrityError(
            f"archive checksum mismatch (expected sha256 {expected_sha256}, stored bytes have {actual}, "
            f"{size} bytes): the archive was altered or truncated; refusing to use it"
        )
    return size


class ArchiveReader:
    """Reads a local archive file; each iteration is one streamed pass (no extraction to disk).

    ``encryption_key`` is one raw key or the :class:`~aegis.archive.keys.KeyRing` (an archive is opened
    with the key its header names). After a pass, ``key_id`` is the id of the key that opened it.
    """

    def __init__(self, path: str | os.PathLike[str], encryption_key: Keys | None = None) -> None:
        self.path = Path(path)
        self._key = encryption_key
        with open(self.path, "rb") as f:
            self.encrypted = f.read(len(MAGIC)) == MAGIC
        if self.encrypted and not self._key:
            raise ArchiveIntegrityError("archive is encrypted and no encryption key is configured")
        self.metadata: dict[str, Any] | None = None  # set once a pass reaches metadata.json
        self.key_id: str | None = None
        #: tar members seen by the last complete pass (objects, metadata and anything else)
        self.members = 0

    def entries(self) -> Iterator[ArchiveEntry]:
        """Every object's (resource, group, namespace, name) from the tar headers, without parsing objects."""
        for entry, _member, _tar in self._walk():
            yield entry

    def objects(self) -> Iterator[tuple[ArchiveEntry, dict[str, Any]]]:
        """Every object, decoded one at a time. The final integrity checks run after the last one."""
        for entry, member, tar in self._walk():
            extracted = tar.extractfile(member)
            if extracted is None:
                raise ArchiveIntegrityError(f"archive entry {entry.path} is not a file")
            try:
                obj = orjson.loads(extracted.read())
            except orjson.JSONDecodeError:
                raise ArchiveIntegrityError(f"archive entry {entry.path} is not valid JSON") from None
            yield entry, obj

    def contents(self) -> ArchiveContents:
        """The whole index plus metadata.json in one pass (entries are small; objects are not read)."""
        entries = list(self.entries())
        return ArchiveContents(entries=entries, metadata=self.metadata or {})

    def _walk(self) -> Iterator[tuple[ArchiveEntry, tarfile.TarInfo, tarfile.TarFile]]:
        with self._open_stream() as stream:
            try:
                gz = gzip.GzipFile(fileobj=stream, mode="rb")
                with tarfile.open(fileobj=gz, mode="r|") as tar:
                    seen_version = False
                    members = 0
                    while (member := tar.next()) is not None:
                        # stream mode would otherwise keep every header read (`members` is not in typeshed)
                        tar.members.clear()  # type: ignore[attr-defined]
                        members += 1
                        if _unsafe_name(member.name):
                            raise ArchiveIntegrityError(
                                "archive holds a member with an absolute path or a '..' segment: refused"
                            )
                        if member.name == VERSION_PATH:
                            seen_version = True
                            continue
                        if member.name == METADATA_PATH:
                            self.metadata = _load_metadata(tar, member)
                            continue
                        entry = parse_object_path(member.name)
                        if entry is not None and member.isfile():
                            yield entry, member, tar
                # Drain to the gzip trailer: its CRC and length catch truncation and altered bytes.
                while gz.read(COPY_CHUNK):
                    pass
            except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise ArchiveIntegrityError(f"archive is corrupt or truncated ({_describe(exc)})") from None
            except DecryptionError as exc:
                raise ArchiveIntegrityError(str(exc)) from None
            if not seen_version or self.metadata is None:
                raise ArchiveIntegrityError(
                    "archive is incomplete or not an Aegis archive (metadata missing)"
                )
            self.members = members

    @contextmanager
    def _open_stream(self) -> Iterator[BinaryIO]:
        with open(self.path, "rb") as f:
            if not self.encrypted:
                yield f
                return
            assert self._key is not None
            try:
                reader = DecryptingReader(f, self._key)
            except KeyNotConfiguredError as exc:
                raise ArchiveKeyMissingError(str(exc), exc.key_id) from None
            except DecryptionError as exc:
                raise ArchiveIntegrityError(str(exc)) from None
            yield reader  # type: ignore[misc]
            self.key_id = reader.key_id


def _unsafe_name(name: str) -> bool:
    """An absolute member name (``/x``, ``C:\\x``) or one with a ``..`` segment: never a name aegis
    writes, and the shape of a path-traversal archive (the namespace or name would be ``..``)."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


def _load_metadata(tar: tarfile.TarFile, member: tarfile.TarInfo) -> dict[str, Any]:
    extracted = tar.extractfile(member)
    try:
        data = orjson.loads(extracted.read() if extracted else b"")
    except orjson.JSONDecodeError:
        raise ArchiveIntegrityError("archive metadata.json is not valid JSON") from None
    if not isinstance(data, dict):
        raise ArchiveIntegrityError("archive metadata.json is not an object")
    return data


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
