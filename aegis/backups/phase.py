"""The one definition of a run's phase (backups and restores alike; Deleted only for backups whose archive is
gone), the groups of phases the capabilities ask about, and how far along a run is."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Velero's phase names; stored as these strings and listed in /docs."""

    NEW = "New"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    PARTIALLY_FAILED = "PartiallyFailed"
    FAILED = "Failed"
    DELETED = "Deleted"


UNFINISHED = (Phase.NEW, Phase.IN_PROGRESS)
RESTORABLE = (Phase.COMPLETED, Phase.PARTIALLY_FAILED)  # a backup with an archive worth reading
#: The error of a run marked Failed because it was stopped (shutdown, or its process died).
INTERRUPTED = "interrupted"


def progress_percent(phase: str, done: int, total: int) -> float | None:
    """How far a run is, for the API: 100 once it ended with its items handled, else done/total."""
    if phase in RESTORABLE:
        return 100.0
    return round(min(100.0, 100.0 * done / total), 1) if total else None
