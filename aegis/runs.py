"""Background runs of the engine, shared by backups and restores: one asyncio task per run (the engine
itself works in a worker thread), a cancel event per run, live progress written to the record (throttled),
heartbeats that tell a live run from one left by a dead process, and shutdown that marks runs interrupted.

Threading model: the engine calls ``progress_cb`` from its worker thread; the value is handed to the
event loop with ``loop.call_soon_threadsafe``, kept in ``live`` and written by one flush loop every
``progress_interval_s``. Every record this process runs carries ``owner`` (this process's id) and a
``heartbeat_at`` refreshed every ``heartbeat_interval_s``: a New/InProgress record whose heartbeat is
older than ``stale_after_s`` belongs to a process that died and is marked Failed "interrupted".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from aegis.engine import Progress, ProgressCallback
from aegis.tables import FAILED, IN_PROGRESS, INTERRUPTED, UNFINISHED
from oco.db import Database
from oco.timeutil import utcnow

log = logging.getLogger("aegis.runs")

#: This process, as recorded in the `owner` column of the records it runs.
PROCESS_ID = f"{uuid.uuid4().hex[:12]}"

Runner = Callable[[threading.Event, ProgressCallback], Awaitable[None]]


class RunTracker:
    """Runs of one kind (one table) in this process: start, watch, cancel, stop."""

    def __init__(
        self,
        database: Database,
        table: sa.Table,
        *,
        kind: str,
        max_concurrent: int,
        progress_interval_s: float = 1.0,
        heartbeat_interval_s: float = 30.0,
    ) -> None:
        self.database = database
        self.table = table
        self.kind = kind
        self.owner = PROCESS_ID
        self.progress_interval_s = progress_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.live: dict[int, Progress] = {}
        self._dirty: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancels: dict[int, threading.Event] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self._flusher: asyncio.Task[None] | None = None

    # -- running -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the progress/heartbeat flush loop (call from the app's lifespan)."""
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

    # -- writing progress and heartbeats -----------------------------------------------------------------

    async def _flush_loop(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            await asyncio.sleep(self.progress_interval_s)
            try:
                await self.flush_progress()
                if time.monotonic() - last_heartbeat >= self.heartbeat_interval_s:
                    await self.heartbeat()
                    last_heartbeat = time.monotonic()
            except Exception:  # the database may be down for a while: keep running, try again later
                log.warning("could not write %s progress", self.kind, exc_info=True)

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
                    .where(self.table.c.id == run_id, self.table.c.phase == IN_PROGRESS)
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
                sa.update(self.table).where(*where).values(phase=FAILED, error=error, finished_at=utcnow())
            )
        return int(result.rowcount or 0)

    async def reap_stale(self, stale_after_s: float, now: datetime | None = None) -> list[int]:
        """Mark Failed "interrupted" the unfinished records of dead processes (stale heartbeat)."""
        cutoff = (now or utcnow()) - timedelta(seconds=stale_after_s)
        mine = self.running_ids()
        table = self.table
        where = [
            table.c.phase.in_(UNFINISHED),
            sa.or_(
                table.c.heartbeat_at < cutoff,
                sa.and_(table.c.heartbeat_at.is_(None), table.c.created_at < cutoff),
            ),
        ]
        if mine:
            where.append(table.c.id.not_in(mine))
        async with self.database.engine.begin() as conn:
            ids = [int(r) for r in (await conn.execute(sa.select(table.c.id).where(*where))).scalars()]
            if ids:
                await conn.execute(
                    sa.update(table)
                    .where(table.c.id.in_(ids), table.c.phase.in_(UNFINISHED))
                    .values(phase=FAILED, error=INTERRUPTED, finished_at=utcnow())
                )
        return ids

    async def stop(self, grace_s: float) -> list[int]:
        """Cancel every run, give them ``grace_s`` to end, then mark what is left Failed "interrupted"."""
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
        return ids
