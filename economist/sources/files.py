"""Which files make one export: the data files of a folder, or the files an export's manifest lists (AWS
CUR/Data Exports `reportKeys`, or `dataFiles`/`files`), each resolved by its name inside the manifest's folder."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet")
MANIFEST_SUFFIX = "manifest.json"
MAX_FILES = 10_000


class ExportFilesError(ValueError):
    """A folder or manifest that names no readable data file."""


def is_manifest(path: Path) -> bool:
    """A file whose name ends in `manifest.json` (any case)."""
    return path.name.lower().endswith(MANIFEST_SUFFIX)


def folder_files(folder: Path) -> list[Path]:
    """The data files directly inside a folder, by name."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))
    if not found:
        raise ExportFilesError(f"the folder {folder.name} holds no .csv, .csv.gz or .parquet file")
    if len(found) > MAX_FILES:
        raise ExportFilesError(f"the folder {folder.name} holds more than {MAX_FILES} files")
    return found


def _entry_name(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        for key in ("key", "path", "name", "file"):
            if isinstance(entry.get(key), str):
                return entry[key]
    return None


def manifest_files(manifest: Path) -> list[Path]:
    """The data files a manifest lists, each looked up by its base name next to the manifest."""
    try:
        document = json.loads(manifest.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportFilesError(f"unreadable manifest {manifest.name}: {type(exc).__name__}") from None
    entries: Any = None
    if isinstance(document, dict):
        entries = next(
            (document[k] for k in ("reportKeys", "dataFiles", "files") if isinstance(document.get(k), list)),
            None,
        )
    elif isinstance(document, list):
        entries = document
    names = [_entry_name(e) for e in entries or []]
    if not names or any(n is None for n in names):
        raise ExportFilesError(
            f"the manifest {manifest.name} has no list of files (reportKeys, dataFiles or files)"
        )
    found: list[Path] = []
    for name in dict.fromkeys(n for n in names if n):
        path = manifest.parent / PurePosixPath(name.replace("\\", "/")).name
        if not path.is_file():
            raise ExportFilesError(f"the manifest {manifest.name} lists {path.name}, which is not beside it")
        found.append(path)
    if len(found) > MAX_FILES:
        raise ExportFilesError(f"the manifest {manifest.name} lists more than {MAX_FILES} files")
    return found


def export_files(path: Path) -> list[Path] | None:
    """The files of a folder or manifest path; None for a single data file."""
    if path.is_dir():
        return folder_files(path)
    if is_manifest(path):
        return manifest_files(path)
    return None
