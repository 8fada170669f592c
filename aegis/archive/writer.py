"""Streams a backup archive (tar.gz in Velero's layout, optionally encrypted) into a local file.

Synchronous, one writer per backup, not thread-safe. Objects are serialised and written one at a
time; the SHA-256 and size are those of the stored bytes (after encryption), computed as written.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from aegis.archive.crypto import DEFAULT_CHUNK_SIZE, EncryptingWriter
from aegis.archive.keys import DEFAULT_KEY_ID
from aegis.archive.layout import FORMAT_VERSION, METADATA_PATH, VERSION_PATH, object_path
from aegis.archive.tarstream import TarStreamWriter

DEFAULT_COMPRESSLEVEL = 6


@dataclass(frozen=True)
class ArchiveInfo:
    path: str
    size_bytes: int
    sha256: str
    encrypted: bool
    objects: int
    #: the id of the key that sealed it (named in its header); None when not encrypted
    key_id: str | None = None


class HashingSink:
    """Counts and hashes every byte on its way to the file."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class ArchiveWriter:
    """``with ArchiveWriter(path) as w: w.add_object(...); info = w.close(metadata)``.

    Leaving the ``with`` block without :meth:`close` (an exception) removes the partial file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        encryption_key: bytes | None = None,
        key_id: str = DEFAULT_KEY_ID,
        compresslevel: int = DEFAULT_COMPRESSLEVEL,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.path = Path(path)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._sink = HashingSink(self._file)
        try:
            self._encryptor = (
                EncryptingWriter(self._sink, encryption_key, chunk_size, key_id=key_id)
                if encryption_key
                else None
            )
        except BaseException:
            self._file.close()
            self.path.unlink(missing_ok=True)
            raise
        self._gzip = gzip.GzipFile(
            filename="",
            mode="wb",
            fileobj=self._encryptor or self._sink,
            compresslevel=compresslevel,
            mtime=0,
        )
        self._tar = TarStreamWriter(self._gzip, mtime=int(time.time()))
        self._objects = 0
        self._info: ArchiveInfo | None = None
        self._add_bytes(VERSION_PATH, FORMAT_VERSION.encode())

    def add_object(
        self, resource: str, group: str, namespace: str | None, name: str, obj: Mapping[str, Any]
    ) -> str:
        """Serialise one object to its Velero path (cluster-scoped when ``namespace`` is None)."""
        path = object_path(resource, group, namespace, name)
        self._add_bytes(path, orjson.dumps(obj))
        self._objects += 1
        return path

    def close(self, metadata: Mapping[str, Any]) -> ArchiveInfo:
        """Write ``metadata.json`` last, seal every layer, fsync; returns size and SHA-256 of the file."""
        if self._info is not None:
            return self._info
        self._add_bytes(
            METADATA_PATH, orjson.dumps(metadata, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        )
        self._tar.close()
        self._gzip.close()
        if self._encryptor is not None:
            self._encryptor.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._info = ArchiveInfo(
            path=str(self.path),
            size_bytes=self._sink.size,
            sha256=self._sink.hexdigest(),
            encrypted=self._encryptor is not None,
            objects=self._objects,
            key_id=self._encryptor.key_id if self._encryptor is not None else None,
        )
        return self._info

    def abort(self) -> None:
        """Drop the partial archive."""
        if self._info is not None:
            return
        with contextlib.suppress(Exception):  # close quietly so nothing writes to the file later
            self._gzip.close()
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._info is None:
            self.abort()

    def _add_bytes(self, path: str, data: bytes) -> None:
        self._tar.add(path, data)
