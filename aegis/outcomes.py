"""What backup and restore runs report: phases, progress, per-item errors/results and outcomes.

Plain dataclasses; ``to_dict()`` gives JSON-ready values (ISO timestamps, enum values).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aegis.kube.applier import ApplyOutcome

PROGRESS_INTERVAL_S = 0.25
logger = logging.getLogger(__name__)


class Phase(StrEnum):
    NEW = "New"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    PARTIALLY_FAILED = "PartiallyFailed"
    FAILED = "Failed"


@dataclass(frozen=True)
class Progress:
    items_done: int
    items_total: int  # backup: objects known so far (grows while paging); restore: exact after planning
    detail: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass
class ItemError:
    item: str  # e.g. "secrets in namespace b" or "deployments.apps/ns/name"
    reason: str


@dataclass
class BackupOutcome:
    phase: Phase
    key: str
    started_at: datetime
    finished_at: datetime | None = None
    items_total: int = 0
    items_done: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # objects per resource ("deployments.apps")
    errors: list[ItemError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    size_bytes: int = 0
    sha256: str = ""
    encrypted: bool = False
    api_versions: list[str] = field(default_factory=list)
    server_version: str | None = None
    error: str | None = None  # why the run Failed as a whole

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass
class RestoreItemResult:
    resource: str  # "deployments.apps"
    namespace: str | None  # target namespace
    name: str
    outcome: ApplyOutcome
    message: str = ""


@dataclass
class RestoreOutcome:
    phase: Phase
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    backup_name: str = ""
    items_total: int = 0
    items_done: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in ApplyOutcome})
    results: list[RestoreItemResult] = field(default_factory=list)
    not_planned: dict[str, int] = field(default_factory=dict)  # skip reason -> objects (not applied)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class ContentItem:
    resource: str
    group: str
    kind: str
    namespace: str | None
    name: str


@dataclass
class BackupContents:
    items: list[ContentItem]
    metadata: dict[str, Any]


class Cancelled(Exception):
    """A run was stopped through its cancel event."""


class ProgressThrottle:
    """Calls the progress callback at most every PROGRESS_INTERVAL_S (plus forced calls); never raises."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._last = 0.0

    def __call__(self, done: int, total: int, detail: str = "", *, force: bool = False) -> None:
        moment = time.monotonic()
        if self._callback is None or (not force and moment - self._last < PROGRESS_INTERVAL_S):
            return
        self._last = moment
        try:
            self._callback(Progress(done, max(total, done), detail))
        except Exception:  # a broken progress sink must not break the run
            logger.exception("progress callback failed")


class Fatal(Exception):
    """Ends a run as Failed with this message."""


def os_error(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def now() -> datetime:
    return datetime.now(UTC)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return value
