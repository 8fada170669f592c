"""What every run, backup or restore, shares while it works: progress reports (throttled), per-item errors,
and the two ways a run stops early (Cancelled, Fatal)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

PROGRESS_INTERVAL_S = 0.25
logger = logging.getLogger(__name__)


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
