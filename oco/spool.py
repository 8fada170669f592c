"""Append-only local spool of a buffered writer's rows: each row is written (one `write()`, no fsync) to this
process's segment file before it is queued, so rows a killed process had not yet committed can be replayed
at the next start. Segments are truncated or deleted once every row in them is settled."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import fcntl
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from prometheus_client import Counter

log = logging.getLogger("oco.spool")

SPOOL_ERRORS = Counter(
    "oco_writer_spool_errors_total", "Rows a buffered writer could not append to its spool file", ["writer"]
)
SUFFIX = ".jsonl"
DEFAULT_SEGMENT_BYTES = 4 << 20


def _default(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"cannot spool a {type(value).__name__}")


def encode_row(row: dict[str, Any]) -> bytes:
    """One spool line: the row as JSON (datetimes ISO 8601 with offset, Decimals as strings) and a newline."""
    return orjson.dumps(row, default=_default, option=orjson.OPT_APPEND_NEWLINE)


def row_decoder(table: sa.Table) -> Any:
    """A function turning a decoded spool line back into the row `table.insert()` was given."""
    datetimes = {c.name for c in table.columns if isinstance(c.type, sa.DateTime)}
    dates = {c.name for c in table.columns if isinstance(c.type, sa.Date) and c.name not in datetimes}
    decimals = {
        c.name for c in table.columns if isinstance(c.type, sa.Numeric) and not isinstance(c.type, sa.Float)
    }

    def decode(doc: dict[str, Any]) -> dict[str, Any]:
        for name, value in doc.items():
            if not isinstance(value, str):
                continue
            if name in datetimes:
                doc[name] = dt.datetime.fromisoformat(value)
            elif name in dates:
                doc[name] = dt.date.fromisoformat(value)
            elif name in decimals:
                doc[name] = decimal.Decimal(value)
        return doc

    return decode


@dataclass(eq=False)
class Segment:
    """One spool file. `queued` rows of it went into the writer's queue; `done` of those are settled
    (committed, or refused for good). `lossy`: a row of it was not committed (queue full, shutdown, or
    the database down past the retry window), so the file must be replayed rather than deleted."""

    path: Path
    fd: int | None
    queued: int = 0
    done: int = 0
    size: int = 0
    lossy: bool = False
    sealed: bool = False
    foreign: bool = False  # left by another (dead) process

    @property
    def settled(self) -> bool:
        return self.done >= self.queued


class RowSpool:
    """The spool of one writer in one process. Not thread-safe: used from the event loop only.

    The writer takes rows from its queue in order, so `settled(n)` always concerns the oldest `n` queued
    rows that are not settled yet: counts per segment are enough, no per-row bookkeeping."""

    def __init__(self, directory: Path, name: str, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.directory = directory
        self.name = name
        self.segment_bytes = segment_bytes
        self.segments: list[Segment] = []  # oldest first; the last one is the active one while open
        self._active: Segment | None = None
        self._m_errors = SPOOL_ERRORS.labels(name)
        self._error_logged = False

    # -- this process's segments ------------------------------------------------------------------
    def open(self) -> None:
        """Create the directory (mode 0700) and this process's first segment."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._rotate()

    def _rotate(self) -> None:
        if self._active is not None:
            self._active.sealed = True
        # created under a hidden name and renamed once locked: a starting process never sees it unlocked
        stem = f"{self.name}-{os.getpid()}-{time.time_ns()}"
        hidden = self.directory / f".{stem}.new"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = self.directory / f"{stem}{SUFFIX}"
        os.rename(hidden, path)
        self._active = Segment(path, fd)
        self.segments.append(self._active)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row to the active segment (to the page cache: it survives this process being killed,
        not the machine losing power). A failing disk is logged and counted, never raised: the row is still
        queued, it just has no copy on disk."""
        active = self._active
        if active is None:
            return
        active.queued += 1
        if active.fd is None:
            return
        try:
            line = encode_row(row)
            view = memoryview(line)
            while view:
                view = view[os.write(active.fd, view) :]
            active.size += len(line)
        except (OSError, TypeError) as exc:
            self._m_errors.inc()
            if not self._error_logged:
                self._error_logged = True
                log.error("spool %s: cannot append to %s: %s", self.name, active.path, type(exc).__name__)
            return
        if active.size >= self.segment_bytes:
            self._rotate()

    def unqueued(self) -> None:
        """The row just appended was not queued (queue full or shutting down): replay its segment later."""
        if self._active is not None:
            self._active.queued -= 1
            self._active.lossy = True

    def settled(self, count: int, *, lost: bool = False) -> None:
        """The oldest `count` unsettled queued rows are settled; `lost`: some were not committed."""
        for segment in self.segments:
            if count <= 0:
                break
            if segment.foreign or segment.settled:
                continue
            take = min(count, segment.queued - segment.done)
            segment.done += take
            count -= take
            if lost:
                segment.lossy = True
        self._tidy()

    def _tidy(self) -> None:
        """Delete sealed segments whose rows are all committed; empty the active one when it is."""
        for segment in list(self.segments):
            if segment.foreign or segment.lossy or not segment.settled:
                continue
            if segment.sealed:
                self._remove(segment)
            elif segment.size and segment.fd is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(segment.fd, 0)  # O_APPEND: the next row lands at offset 0
                    segment.size = 0

    def seal_lossy_active(self) -> None:
        """Start a new active segment when the current one holds uncommitted rows, so it can be replayed."""
        if self._active is not None and self._active.lossy and self._active.fd is not None:
            self._rotate()

    def replayable(self) -> list[Segment]:
        """Segments to replay now: other processes' leftovers and this process's sealed, settled, lossy ones."""
        return [s for s in self.segments if s.foreign or (s.sealed and s.lossy and s.settled)]

    def release(self, segment: Segment) -> None:
        """A replayed segment: every row in it is stored, the file goes."""
        self._remove(segment)

    def _remove(self, segment: Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        self._close_fd(segment)
        self.segments.remove(segment)

    @staticmethod
    def _close_fd(segment: Segment) -> None:
        if segment.fd is not None:
            with contextlib.suppress(OSError):
                os.close(segment.fd)
            segment.fd = None

    def close(self) -> None:
        """At shutdown: delete the files whose rows are all committed, keep (and unlock) the others."""
        self._active = None
        for segment in list(self.segments):
            if not segment.foreign and not segment.lossy and segment.settled:
                self._remove(segment)
            else:
                self._close_fd(segment)
        kept = [s for s in self.segments if s.path.exists()]
        if kept:
            log.warning(
                "spool %s: %d file(s) with uncommitted rows kept for the next start", self.name, len(kept)
            )
        self.segments = []

    # -- files left by processes that died ---------------------------------------------------------
    def adopt_leftovers(self) -> int:
        """Lock every spool file no live process holds (a killed process's lock went with it) and add it
        for replay; returns how many were adopted."""
        adopted = 0
        known = {s.path for s in self.segments}
        for path in sorted(self.directory.glob(f"{self.name}-*{SUFFIX}")):
            if path in known:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_ino != os.stat(path).st_ino:  # replayed and deleted meanwhile
                    raise FileNotFoundError(path)
            except OSError:  # locked: a live process writes it (BlockingIOError); or gone
                os.close(fd)
                continue
            self.segments.insert(0, Segment(path, fd, sealed=True, lossy=True, foreign=True))
            adopted += 1
        return adopted

    @staticmethod
    def read(segment: Segment) -> tuple[list[dict[str, Any]], int]:
        """The rows of a segment file and the count of unreadable lines (a write cut short by the kill:
        that row's response had not been sent, since the row is spooled before the response ends)."""
        rows: list[dict[str, Any]] = []
        torn = 0
        for line in segment.path.read_bytes().splitlines():
            if not line:
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                torn += 1
                continue
            if isinstance(doc, dict):
                rows.append(doc)
            else:
                torn += 1
        return rows, torn
