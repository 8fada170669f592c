"""Background runs of the engine, shared by backups and restores: one asyncio task per run (the engine
itself works in a worker thread), a cancel event per run, live progress written to the record (throttled),
owner leases and heartbeats that tell a live run from one left by a dead process, a periodic reaper, and
shutdown that marks runs interrupted.

Threading model: the engine calls ``progress_cb`` from its worker thread; the value is handed to the
event loop with ``loop.call_soon_threadsafe``, kept in ``live`` and written by one loop every
``progress_interval_s``. The same loop refreshes heartbeats and the owner lease and reaps dead runs.

Liveness: every record this process runs carries ``owner`` (an :class:`OwnerLease` id, fresh for each
process) and a ``heartbeat_at`` refreshed every ``heartbeat_interval_s``. The lease is a kv key
(``aegis:owner:<id>``) with a TTL of ``stale_after_s``, refreshed with the heartbeat. A New/InProgress
record is left by a dead process, and marked Failed "interrupted", when:

- its owner is a lease whose key is gone (the process died or stopped), or
- its heartbeat is older than ``stale_after_s`` (also covers owners that never held a lease), or
- at start-up: its owner is this very owner id (a previous life), or the kv is the in-process one
  (single process: nothing else can be running).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aegis.backups.phase import INTERRUPTED, UNFINISHED, Phase
from aegis.backups.progress import Progress, ProgressCallback
from oco.db import Database
from oco.kv import KV, MemoryKV
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("aegis.runs")

#: Owner ids of processes that hold a kv lease start with this; other owners (written before leases
#: existed) are judged by their heartbeat alone.
LEASE_PREFIX = "aegis-"
#: Temporary files and directories of runs in the work directory (swept at start-up when stale).
WORK_FILE_PREFIXES = ("aegis-backup-", "aegis-restore-", "aegis-contents-")

Runner = Callable[[threading.Event, ProgressCallback], Awaitable[None]]
#: Called with the ids of runs this tracker marked Failed "interrupted" (by stop() or by the reaper).
InterruptedHook = Callable[[list[int]], Awaitable[None]]


def new_owner_id() -> str:
    return f"{LEASE_PREFIX}{uuid.uuid4().hex[:16]}"


def owner_key(owner: str) -> str:
    return f"aegis:owner:{owner}"


class OwnerLease:
    """This process's owner id, alive in the kv for ``ttl_s`` after each refresh (shared by trackers)."""

    def __init__(self, kv: KV, ttl_s: float, owner: str | None = None) -> None:
        self.kv = kv
        self.ttl_s = ttl_s
        self.owner = owner or new_owner_id()

    @property
    def single_process(self) -> bool:
        """The in-process kv spans one process: at start-up every unfinished run is a dead one's."""
        return self.kv.backend == "memory"

    async def refresh(self) -> None:
        await self.kv.set(owner_key(self.owner), b"1", ttl_s=self.ttl_s)

    async def release(self) -> None:
        """Drop the lease (graceful shutdown): other replicas may reap what is left at once."""
        await self.kv.delete(owner_key(self.owner))

    async def alive(self, owners: Iterable[str]) -> set[str]:
        """The owners among ``owners`` whose lease key is present (this one's counts as alive)."""
        found = set()
        for owner in set(owners):
            if owner == self.owner or await self.kv.get(owner_key(owner)) is not None:
                found.add(owner)
        return found


class RunTracker:
    """Runs of one kind (one table) in this process: start, watch, cancel, reap, stop."""

    def __init__(
        self,
        database: Database,
        table: sa.Table,
        *,
        kind: str,
        max_concurrent: int,
        progress_interval_s: float = 1.0,
        heartbeat_interval_s: float = 30.0,
        stale_after_s: float = 120.0,
        reap_interval_s: float | None = None,
        lease: OwnerLease | None = None,
    ) -> None:
        self.database = database
        self.table = table
        self.kind = kind
        self.lease = lease or OwnerLease(MemoryKV(), stale_after_s)
        self.owner = self.lease.owner
        self.progress_interval_s = progress_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.stale_after_s = stale_after_s
        self.reap_interval_s = heartbeat_interval_s if reap_interval_s is None else reap_interval_s
        self.live: dict[int, Progress] = {}
        #: awaited with the ids of runs marked Failed "interrupted" (errors are logged, never raised).
        self.interrupted_hooks: list[InterruptedHook] = []
        self._dirty: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancels: dict[int, threading.Event] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self._flusher: asyncio.Task[None] | None = None

    # -- running -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the progress/heartbeat/reaper loop (call from the app's lifespan)."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name=f"aegis-{self.kind}-progress")

    def launch(self, run_id: int, runner: Runner) -> None:
        """Run ``runner(cancel, progress_cb)`` in the background once a slot is free."""
        loop = asyncio.get_running_loop()
        cancel = threading.Event()

        def progress_cb(progress: Progress) -> None:  # called from the engine's worker thread
            loop.call_soon_threadsafe(self._on_progress, run_id, progress)

        self._cancels[run_id] = cancel
        self._tasks[run_id] = asyncio.create_task(
            self._guard(run_id, runner, cancel, progress_cb), name=f"aegis-{self.kind}-{run_id}"
        )

    def overlay(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record with the live progress of a run of this process (rows are written only now and then)."""
        progress = self.live.get(record["id"])
        if progress is not None and record["phase"] in UNFINISHED:
            done = max(progress.items_done, record["items_done"] or 0)
            record = {**record, "items_done": done, "items_total": max(progress.items_total, done)}
        return record

    def running_ids(self) -> list[int]:
        return list(self._tasks)

    def is_running(self, run_id: int) -> bool:
        return run_id in self._tasks

    async def wait(self, run_id: int) -> None:
        """Wait until a run of this process has finished (tests, CLI-less callers)."""
        task = self._tasks.get(run_id)
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(task)

    def cancel(self, run_id: int) -> bool:
        """Ask a run to stop; it ends Failed "interrupted" after the engine's current step."""
        event = self._cancels.get(run_id)
        if event is None:
            return False
        event.set()
        return True

    async def _guard(
        self, run_id: int, runner: Runner, cancel: threading.Event, progress_cb: ProgressCallback
    ) -> None:
        try:
            async with self._slots:
                if cancel.is_set():  # cancelled while queued: it never began
                    await self.fail([run_id], INTERRUPTED)
                    return
                await runner(cancel, progress_cb)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the service or the database: the record must not stay running
            log.exception("%s %s crashed", self.kind, run_id)
            with contextlib.suppress(Exception):
                await self.fail([run_id], f"internal error: {type(exc).__name__}", unfinished_only=True)
        finally:
            self._tasks.pop(run_id, None)
            self._cancels.pop(run_id, None)
            self.live.pop(run_id, None)
            self._dirty.discard(run_id)

    def _on_progress(self, run_id: int, progress: Progress) -> None:
        if run_id in self._tasks:
            self.live[run_id] = progress
            self._dirty.add(run_id)

    # -- writing progress and heartbeats, reaping --------------------------------------------------------

    async def _flush_loop(self) -> None:
        last_heartbeat = last_reap = time.monotonic()
        while True:
            await asyncio.sleep(min(self.progress_interval_s, self.heartbeat_interval_s))
            try:
                await self.flush_progress()
            except Exception:  # the database may be down for a while: keep running, try again later
                log.warning("could not write %s progress", self.kind, exc_info=True)
            if time.monotonic() - last_heartbeat >= self.heartbeat_interval_s:
                last_heartbeat = time.monotonic()
                await self._beat()
            if time.monotonic() - last_reap >= self.reap_interval_s:
                last_reap = time.monotonic()
                try:
                    await self.reap()
                except Exception:
                    log.warning("could not reap dead %s runs", self.kind, exc_info=True)

    async def _beat(self) -> None:
        try:
            await self.lease.refresh()
        except Exception:  # kv down: records still carry heartbeats; other replicas fall back to them
            log.warning("could not refresh the owner lease of %s runs", self.kind, exc_info=True)
        try:
            await self.heartbeat()
        except Exception:
            log.warning("could not write %s heartbeats", self.kind, exc_info=True)

    async def flush_progress(self) -> None:
        """Write the live progress of runs that moved since the last flush."""
        dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        now = utcnow()
        async with self.database.engine.begin() as conn:
            for run_id in dirty:
                progress = self.live.get(run_id)
                if progress is None:
                    continue
                await conn.execute(
                    sa.update(self.table)
                    .where(self.table.c.id == run_id, self.table.c.phase == Phase.IN_PROGRESS)
                    .values(
                        items_done=progress.items_done,
                        items_total=max(progress.items_total, progress.items_done),
                        heartbeat_at=now,
                    )
                )

    async def heartbeat(self) -> None:
        ids = self.running_ids()
        if not ids:
            return
        async with self.database.engine.begin() as conn:
            await conn.execute(
                sa.update(self.table)
                .where(self.table.c.id.in_(ids), self.table.c.phase.in_(UNFINISHED))
                .values(heartbeat_at=utcnow())
            )

    # -- failing -----------------------------------------------------------------------------------------

    async def fail(self, ids: Iterable[int], error: str, *, unfinished_only: bool = True) -> int:
        """Mark records Failed with ``error`` (by default only those still New/InProgress)."""
        ids = list(ids)
        if not ids:
            return 0
        where = [self.table.c.id.in_(ids)]
        if unfinished_only:
            where.append(self.table.c.phase.in_(UNFINISHED))
        async with self.database.engine.begin() as conn:
            result = await conn.execute(
                sa.update(self.table)
                .where(*where)
                .values(phase=Phase.FAILED, error=error, finished_at=utcnow())
            )
        return int(result.rowcount or 0)

    async def reap(self, *, startup: bool = False, now: datetime | None = None) -> list[int]:
        """Mark Failed "interrupted" the unfinished records of dead processes (see the module docstring)
        and run the interrupted hooks on them. ``startup``: this process runs nothing yet."""
        now = now or utcnow()
        cutoff = now - timedelta(seconds=self.stale_after_s)
        table = self.table
        async with self.database.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(table.c.id, table.c.owner, table.c.heartbeat_at, table.c.created_at).where(
                        table.c.phase.in_(UNFINISHED)
                    )
                )
            ).all()
        rows = [r for r in rows if r.id not in self._tasks]
        if not rows:
            return []
        leased = {
            r.owner for r in rows if r.owner and r.owner.startswith(LEASE_PREFIX) and r.owner != self.owner
        }
        try:
            alive = await self.lease.alive(leased)
        except Exception:  # kv down: judge by heartbeats only, never reap a live run on a kv outage
            log.warning(
                "could not read owner leases; reaping %s runs by heartbeat only", self.kind, exc_info=True
            )
            alive = leased
        dead: list[int] = []
        for row in rows:
            beat = as_utc(row.heartbeat_at or row.created_at)
            if (
                (beat is not None and beat < cutoff)
                or (startup and (self.lease.single_process or row.owner == self.owner))
                or (row.owner in leased and row.owner not in alive)
            ):
                dead.append(int(row.id))
        dead = [i for i in dead if i not in self._tasks]  # launched meanwhile: ours, alive
        if not dead:
            return []
        async with self.database.engine.begin() as conn:
            marked = [
                int(i)
                for i in (
                    await conn.execute(
                        sa.update(table)
                        .where(table.c.id.in_(dead), table.c.phase.in_(UNFINISHED))
                        .values(phase=Phase.FAILED, error=INTERRUPTED, finished_at=utcnow())
                        .returning(table.c.id)
                    )
                ).scalars()
            ]
        if marked:
            log.warning(
                "marked %d %s run(s) of dead processes Failed interrupted: %s", len(marked), self.kind, marked
            )
            await self._run_interrupted_hooks(marked)
        return marked

    async def _run_interrupted_hooks(self, ids: list[int]) -> None:
        for hook in self.interrupted_hooks:
            try:
                await hook(ids)
            except Exception:
                log.exception("cleanup of interrupted %s run(s) %s failed", self.kind, ids)

    async def stop(self, grace_s: float) -> list[int]:
        """Cancel every run, give them ``grace_s`` to end, mark what is left Failed "interrupted", then run
        the interrupted hooks (they may wait briefly for worker threads that cannot be killed)."""
        ids = self.running_ids()
        for event in self._cancels.values():
            event.set()
        tasks = list(self._tasks.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(BaseException):
                    await task
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(BaseException):
                await self._flusher
            self._flusher = None
        with contextlib.suppress(Exception):
            await self.fail(ids, INTERRUPTED)
        if ids:
            await self._run_interrupted_hooks(ids)
        return ids


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
