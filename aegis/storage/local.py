"""A directory as a storage location: copy to a hidden temp name, fsync, atomic rename.

A failed or interrupted upload leaves at most a ``.aegis-tmp-*`` file that is never visible under a key.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from aegis.storage.base import ObjectNotFoundError, StorageBackend, StorageError, StoredObject, validate_key

_COPY_CHUNK = 1024 * 1024


class LocalStorage(StorageBackend):
    type = "local"

    def __init__(self, path: str | os.PathLike[str], name: str = "") -> None:
        super().__init__(name)
        self.root = Path(path).expanduser().resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        if self.root not in path.parents:
            raise StorageError(f"invalid storage key {key!r}")
        return path

    def put_file(
        self, local_path: str | os.PathLike[str], key: str, *, sha256: str | None = None
    ) -> StoredObject:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create directory for {key}: {exc.strerror}") from None
        tmp = target.parent / f".aegis-tmp-{uuid.uuid4().hex}-{target.name}"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(local_path, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(_COPY_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            actual = digest.hexdigest()
            if sha256 is not None and actual != sha256.lower():
                raise StorageError(f"upload of {key} failed: checksum of the copy differs from the source")
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"upload of {key} failed: {exc.strerror or exc}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredObject(key=key, size_bytes=size, sha256=actual)

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")  # noqa: SIM115 - the caller closes
        except FileNotFoundError:
            raise ObjectNotFoundError(f"no object {key!r} in location {self.name or self.root}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc.strerror}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "path": str(self.root)}


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
