"""A folder-backed string mapping for the Cost Explorer page cache: one file per key, written atomically,
so several processes can share it and a finished month is never paid for twice."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path


class DirectoryCache(MutableMapping[str, str]):
    """`cache[key] = text` writes `<folder>/<sha256(key)>.json`; reads return the text or raise KeyError."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _file(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def __getitem__(self, key: str) -> str:
        try:
            return self._file(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        os.replace(temporary, self._file(key))

    def __delitem__(self, key: str) -> None:
        try:
            self._file(key).unlink()
        except FileNotFoundError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._file(key).is_file()

    def __iter__(self) -> Iterator[str]:
        raise TypeError("DirectoryCache stores hashed keys; it cannot list the original keys")

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0
