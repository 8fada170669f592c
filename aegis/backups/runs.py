"""How aegis's runs (backups, restores) plug into oco.runs: their phases, error column and items progress;
and the sweep of the temporary files of runs a dead process left in the work directory: each process stages
its runs' files in a directory of its own (``aegis-owner-<owner id>``), removed at start-up once its owner is
known dead (a ``kill -9`` leaves no half archive behind), and files of older layouts once they are stale."""

from __future__ import annotations

import asyncio
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
from oco.runs import SERVICE_PREFIX, OwnerLease, RunTable

log = logging.getLogger("aegis.runs")

#: Temporary files and directories of runs in the work directory (swept at start-up when stale).
WORK_FILE_PREFIXES = ("aegis-backup-", "aegis-restore-", "aegis-contents-", "aegis-rekey-")
#: A process's own staging directory under the work directory: ``aegis-owner-<owner id>``.
OWNER_DIR_PREFIX = "aegis-owner-"


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


def owner_work_dir(work_dir: str | os.PathLike[str] | None, owner: str) -> Path:
    """This process's staging directory (created, mode 0700) under ``work_dir`` (default: the temp dir)."""
    root = Path(work_dir) if work_dir is not None else Path(tempfile.gettempdir())
    path = root / f"{OWNER_DIR_PREFIX}{owner}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


async def sweep_dead_owners(work_dir: str | os.PathLike[str] | None, lease: OwnerLease) -> list[Path]:
    """Delete the staging directories of dead owners, whatever their age, by the rule oco.runs applies to
    records at start-up: with the in-process kv every other service owner is dead (one process); with a
    shared kv, an owner whose lease is gone. An owner that cannot be judged (kv down) is left alone."""
    root = Path(work_dir) if work_dir is not None else Path(tempfile.gettempdir())
    try:
        owners = [e for e in root.iterdir() if e.name.startswith(OWNER_DIR_PREFIX) and e.is_dir()]
    except OSError:
        return []
    removed: list[Path] = []
    for entry in owners:
        owner = entry.name[len(OWNER_DIR_PREFIX) :]
        if owner == lease.owner:
            continue
        if lease.single_process:
            dead = owner.startswith(SERVICE_PREFIX)
        else:
            try:
                dead = lease.judges(owner) and not await lease.alive([owner])
            except Exception:  # noqa: BLE001 - kv unreachable: judge nothing
                log.warning("could not check the owner of %s; left in place", entry)
                continue
        if dead:
            try:
                await asyncio.to_thread(shutil.rmtree, entry)
                removed.append(entry)
            except OSError as exc:
                log.warning("could not remove the work files of dead owner %s: %s", owner, exc)
    if removed:
        log.info("removed the work files of %d dead process(es) from %s", len(removed), root)
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
