"""How aegis's runs (backups, restores) plug into oco.runs: their phases, error column and items progress;
and the sweep of the temporary files of runs a dead process left in the work directory."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aegis.backups.phase import INTERRUPTED, UNFINISHED, Phase
from aegis.backups.progress import Progress
from oco.runs import RunTable

log = logging.getLogger("aegis.runs")

#: Temporary files and directories of runs in the work directory (swept at start-up when stale).
WORK_FILE_PREFIXES = ("aegis-backup-", "aegis-restore-", "aegis-contents-", "aegis-rekey-")


def _items_done(progress: Progress) -> dict[str, Any]:
    return {
        "items_done": progress.items_done,
        "items_total": max(progress.items_total, progress.items_done),
    }


def _overlay(record: dict[str, Any], progress: Progress) -> dict[str, Any]:
    done = max(progress.items_done, record["items_done"] or 0)
    return {**record, "items_done": done, "items_total": max(progress.items_total, done)}


def run_table(table: sa.Table, kind: str) -> RunTable:
    """The RunTable of backup_records or restore_records: New/InProgress until Failed "interrupted"."""
    return RunTable(
        table=table,
        kind=kind,
        status_column="phase",
        unfinished=UNFINISHED,
        failed=Phase.FAILED,
        error_values=lambda message: {"error": message},
        interrupted=INTERRUPTED,
        progress_values=_items_done,
        overlay=_overlay,
    )


def sweep_work_dir(work_dir: str | os.PathLike[str] | None, older_than_s: float) -> list[Path]:
    """Delete the runs' temporary files and directories (``aegis-backup-*``, ``aegis-restore-*``,
    ``aegis-contents-*``) in ``work_dir`` (default: the system temp dir) untouched for ``older_than_s``:
    left by a process that died. Errors are logged, never raised. Returns what was removed."""
    root = Path(work_dir) if work_dir is not None else Path(tempfile.gettempdir())
    cutoff = time.time() - older_than_s
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(WORK_FILE_PREFIXES):
            continue
        try:
            if entry.is_symlink() or _newest_mtime(entry) >= cutoff:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError as exc:
            log.warning("could not remove stale work file %s: %s", entry, exc)
    if removed:
        log.info("removed %d stale work file(s) from %s", len(removed), root)
    return removed


def _newest_mtime(path: Path) -> float:
    """A file's mtime; for a directory, the newest mtime of anything inside (a run may still use it)."""
    newest = path.lstat().st_mtime
    if path.is_dir():
        for base, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(base, name)).st_mtime)
    return newest
