"""The phases of backup and restore records, and how far along a run is."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    NEW = "New"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    PARTIALLY_FAILED = "PartiallyFailed"
    FAILED = "Failed"


# Phases of backup and restore records (the engine's, plus Deleted for backups whose archive is gone).
NEW = "New"
IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
PARTIALLY_FAILED = "PartiallyFailed"
FAILED = "Failed"
DELETED = "Deleted"
PHASES = (NEW, IN_PROGRESS, COMPLETED, PARTIALLY_FAILED, FAILED, DELETED)
UNFINISHED = (NEW, IN_PROGRESS)
RESTORABLE = (COMPLETED, PARTIALLY_FAILED)  # a backup with an archive worth reading
INTERRUPTED = "interrupted"


def progress_percent(phase: str, done: int, total: int) -> float | None:
    """How far a run is, for the API: 100 once it ended with its items handled, else done/total."""
    if phase in (COMPLETED, PARTIALLY_FAILED):
        return 100.0
    return round(min(100.0, 100.0 * done / total), 1) if total else None
