"""Backup and restore runs end to end: cluster -> archive -> storage, and storage -> verified archive -> cluster.

The public surface the service calls. Everything is synchronous (the official kubernetes client
is): run each call in a worker thread (``await asyncio.to_thread(run_backup, ...)``). ``run_backup``
lists with one background thread reading a page or two ahead (aegis.kube.readahead); ``run_restore``
starts its own bounded thread pool for the API calls within a tier. ``progress_cb`` is only ever
called from the calling thread, at most every 0.25 s plus once at the end, and must be cheap; from
asyncio, hand the value over with ``loop.call_soon_threadsafe``. Set ``cancel`` (a threading.Event)
to stop a run: it ends as Failed with error "interrupted", uploads nothing and leaves no temporary
files. Run failures come back as ``phase=Failed`` with ``error``; only bugs raise.
"""

from __future__ import annotations

from aegis.backups.runner import list_backup_contents, run_backup
from aegis.outcomes import (
    BackupContents,
    BackupOutcome,
    ContentItem,
    ItemError,
    Phase,
    Progress,
    ProgressCallback,
    RestoreItemResult,
    RestoreOutcome,
)
from aegis.restores.runner import run_restore

__all__ = [
    "BackupContents",
    "BackupOutcome",
    "ContentItem",
    "ItemError",
    "Phase",
    "Progress",
    "ProgressCallback",
    "RestoreItemResult",
    "RestoreOutcome",
    "default_backup_key",
    "list_backup_contents",
    "run_backup",
    "run_restore",
]


def default_backup_key(name: str) -> str:
    """Velero's object layout: ``backups/<name>/<name>.tar.gz``."""
    return f"backups/{name}/{name}.tar.gz"
