"""Long runs (ingestions, backups, restores, drills) of any service: owner leases, heartbeats, live progress,
reaping the runs of dead processes and marking runs interrupted on stop. SQL in oco/runs_repository.py.

A service describes its run table once with a :class:`RunTable` (status column and its values, error
columns, progress columns) and keeps one :class:`RunTracker` per table. A tracker runs work in the
background (``launch``: one asyncio task per run, a cancel event, a concurrency limit) or watches a run its
caller drives itself (``hold``); a one-shot command registers its run with :func:`detached_tracker`.

Threading: ``progress_cb`` may be called from any thread; the value reaches the event loop through
``loop.call_soon_threadsafe``, is kept in ``live`` (``overlay`` shows it on records) and is written by one
loop every ``progress_interval_s``. The same loop refreshes heartbeats and the owner lease and reaps.

Liveness: every record a process runs carries ``owner`` (an :class:`OwnerLease` id, fresh for each process)
and a ``heartbeat_at`` refreshed every ``heartbeat_interval_s``. The lease is a kv key
(``runs:owner:<id>``) with a TTL of ``stale_after_s``, refreshed with the heartbeat. Owners are service
processes (``svc-``) or one-shot commands such as ``oco economist ingest`` (``cmd-``). An unfinished record
that no run of this process holds was left by a dead process, and is marked failed "interrupted", when:

- its heartbeat (or, without one, its creation) is older than ``stale_after_s`` (covers every owner), or
- its owner's lease key is gone from a kv that can see it: only a shared kv (Redis) sees another
  process's lease; the in-process kv sees none, so there another owner's heartbeat alone speaks for it, or
- at start-up: its owner is this very owner id (a previous life), or the kv is the in-process one and the
  owner is not a command (one service process: no other service can be running it).

When the kv cannot be read, runs are judged by their heartbeats alone (a kv outage never reaps a live run).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from oco import runs_repository as repo
from oco.db import Database
from oco.kv import KV, MemoryKV
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("oco.runs")

#: Owner ids of long-running service processes and of one-shot commands (both hold a kv lease); other
#: owners (written before leases existed) are judged by their heartbeat alone.
SERVICE_PREFIX = "svc-"
COMMAND_PREFIX = "cmd-"

ProgressCallback = Callable[[Any], None]
#: ``runner(cancel, progress_cb)``: the work of one launched run; it ends soon after ``cancel`` is set.
Runner = Callable[[threading.Event, ProgressCallback], Awaitable[None]]
#: Called with the ids of runs a tracker marked failed "interrupted" (by stop() or by the reaper).
InterruptedHook = Callable[[list[int]], Awaitable[None]]


def new_owner_id(*, command: bool = False) -> str:
    """A fresh owner id for a service process, or for a one-shot command (``command``)."""
    return f"{COMMAND_PREFIX if command else SERVICE_PREFIX}{uuid.uuid4().hex[:16]}"


def owner_key(owner: str) -> str:
    """The kv key of an owner's lease."""
    return f"runs:owner:{owner}"


class OwnerLease:
    """This process's owner id, alive in the kv for ``ttl_s`` after each refresh (shared by trackers)."""

    def __init__(self, kv: KV, ttl_s: float, owner: str | None = None, *, command: bool = False) -> None:
        self.kv = kv
        self.ttl_s = ttl_s
        self.owner = owner or new_owner_id(command=command)

    @property
    def single_process(self) -> bool:
        """The in-process kv spans one process: it sees no lease of another one."""
        return self.kv.backend == "memory"

    def judges(self, owner: str | None) -> bool:
        """Whether this kv can tell if ``owner``'s lease is alive (module docstring): the in-process kv
        holds no other process's lease, so it would call every other owner dead."""
        if not owner or owner == self.owner or self.single_process:
            return False
        return owner.startswith((SERVICE_PREFIX, COMMAND_PREFIX))

    async def refresh(self) -> None:
        await self.kv.set(owner_key(self.owner), b"1", ttl_s=self.ttl_s)

    async def release(self) -> None:
        """Drop the lease (graceful shutdown): other processes may reap what is left at once."""
        await self.kv.delete(owner_key(self.owner))

    async def alive(self, owners: Iterable[str]) -> set[str]:
        """The owners among ``owners`` whose lease key is present (this one's counts as alive)."""
        found = set()
        for owner in set(owners):
            if owner == self.owner or await self.kv.get(owner_key(owner)) is not None:
                found.add(owner)
        return found


def _no_overlay(record: dict[str, Any], _progress: Any) -> dict[str, Any]:
    return record


@dataclass(frozen=True)
class RunTable:
    """How a service's run table says what oco.runs needs: which status values are unfinished, how a
    failure is written, which progress columns a live run fills (the kernel knows no service)."""

    table: sa.Table
    #: for logs and task names, e.g. "backup", "ingestion"
    kind: str
    unfinished: tuple[str, ...]
    failed: str
    #: the column values describing a failure, e.g. ``{"error": message}``
    error_values: Callable[[str], Mapping[str, Any]]
    #: the message of a run reaped as left by a dead process, and of one a stopping process interrupts
    interrupted: str = "interrupted"
    stopped: str | None = None
    #: the columns a run's live progress writes (None: the run writes its progress itself)
    progress_values: Callable[[Any], Mapping[str, Any]] | None = None
    #: a record with a live run's progress laid over it
    overlay: Callable[[dict[str, Any], Any], dict[str, Any]] = field(default=_no_overlay)
    status_column: str = "status"
    owner_column: str = "owner"
    heartbeat_column: str = "heartbeat_at"
    created_column: str = "created_at"
    finished_column: str = "finished_at"

    @property
    def id(self) -> sa.Column[Any]:
        return self.table.c.id

    @property
    def status(self) -> sa.Column[Any]:
        return self.table.c[self.status_column]

    @property
    def owner(self) -> sa.Column[Any]:
        return self.table.c[self.owner_column]

    @property
    def heartbeat_at(self) -> sa.Column[Any]:
        return self.table.c[self.heartbeat_column]

    @property
    def created_at(self) -> sa.Column[Any]:
        return self.table.c[self.created_column]

    @property
    def finished_at(self) -> sa.Column[Any]:
        return self.table.c[self.finished_column]

    @property
    def stopped_message(self) -> str:
        return self.stopped or self.interrupted


class RunTracker:
    """Runs of one table in this process: launch or hold, watch, cancel, heartbeat, reap, stop."""

    def __init__(
        self,
        database: Database,
        spec: RunTable,
        *,
        lease: OwnerLease | None = None,
        max_concurrent: int = 1,
        progress_interval_s: float = 1.0,
        heartbeat_interval_s: float = 30.0,
        stale_after_s: float = 120.0,
        reap_interval_s: float | None = None,
        reaps: bool = True,
    ) -> None:
        self.database = database
        self.spec = spec
        self.kind = spec.kind
        self.lease = lease or OwnerLease(MemoryKV(), stale_after_s)
        self.owner = self.lease.owner
        self.progress_interval_s = progress_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.stale_after_s = stale_after_s
        self.reap_interval_s = heartbeat_interval_s if reap_interval_s is None else reap_interval_s
        #: whether the loop reaps dead processes' runs (a one-shot command only keeps its own run alive)
        self.reaps = reaps
        #: the concurrency limit of launched runs (a caller driving a held run may take a slot too)
        self.slots = asyncio.Semaphore(max(1, max_concurrent))
        self.live: dict[int, Any] = {}
        #: awaited with the ids of runs marked failed "interrupted" (errors are logged, never raised).
        self.interrupted_hooks: list[InterruptedHook] = []
        self._dirty: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancels: dict[int, threading.Event] = {}
        self._held: set[int] = set()
        #: runs cancelled while queued for a slot, marked by their own task (stop() reports them too)
        self._failed_queued: set[int] = set()
        self._loop_task: asyncio.Task[None] | None = None

    # -- running -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the progress/heartbeat/reaper loop (call from the app's lifespan)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name=f"runs-{self.kind}-loop")

    async def claim(self, conn: AsyncConnection, run_id: int) -> None:
        """Name this process the owner of a record just inserted, in the caller's transaction (before it
        commits, so no reader ever sees the record without an owner and a heartbeat)."""
        await repo.claim(conn, self.spec, run_id, self.owner, utcnow())

    def launch(self, run_id: int, runner: Runner) -> None:
        """Run ``runner(cancel, progress_cb)`` in the background once a slot is free."""
        cancel = threading.Event()
        self._cancels[run_id] = cancel
        self._tasks[run_id] = asyncio.create_task(
            self._guard(run_id, runner, cancel, self._progress_cb(run_id)), name=f"runs-{self.kind}-{run_id}"
        )

    @asynccontextmanager
    async def hold(self, run_id: int) -> AsyncIterator[ProgressCallback]:
        """A run its caller drives (not launched): heartbeated and never reaped while held; yields the
        progress callback. Left by an exception, the run is marked failed unless it recorded its end."""
        self._held.add(run_id)
        try:
            yield self._progress_cb(run_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.fail([run_id], self.spec.stopped_message))
            raise
        finally:
            self._held.discard(run_id)
            self._forget(run_id)

    def _progress_cb(self, run_id: int) -> ProgressCallback:
        loop = asyncio.get_running_loop()

        def progress_cb(progress: Any) -> None:  # any thread
            loop.call_soon_threadsafe(self._on_progress, run_id, progress)

        return progress_cb

    def overlay(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record with the live progress of a run of this process (rows are written only now and then)."""
        progress = self.live.get(record["id"])
        if progress is not None and record[self.spec.status_column] in self.spec.unfinished:
            return self.spec.overlay(record, progress)
        return record

    def running_ids(self) -> list[int]:
        """The runs of this process: launched (running or queued) and held."""
        return [*self._tasks, *(i for i in self._held if i not in self._tasks)]

    def is_running(self, run_id: int) -> bool:
        return run_id in self._tasks or run_id in self._held

    async def wait(self, run_id: int) -> None:
        """Wait until a launched run of this process has finished (tests, CLI-less callers)."""
        task = self._tasks.get(run_id)
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(task)

    def cancel(self, run_id: int) -> bool:
        """Ask a launched run to stop; it ends failed "interrupted" after its current step."""
        event = self._cancels.get(run_id)
        if event is None:
            return False
        event.set()
        return True

    async def _guard(
        self, run_id: int, runner: Runner, cancel: threading.Event, progress_cb: ProgressCallback
    ) -> None:
        try:
            async with self.slots:
                if cancel.is_set():  # cancelled while queued: it never began
                    self._failed_queued.update(await self.fail([run_id], self.spec.stopped_message))
                    return
                await runner(cancel, progress_cb)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the service or the database: the record must not stay running
            log.exception("%s %s crashed", self.kind, run_id)
            with contextlib.suppress(Exception):
                await self.fail([run_id], f"internal error: {type(exc).__name__}")
        finally:
            self._tasks.pop(run_id, None)
            self._cancels.pop(run_id, None)
            self._forget(run_id)

    def _forget(self, run_id: int) -> None:
        if not self.is_running(run_id):
            self.live.pop(run_id, None)
            self._dirty.discard(run_id)

    def _on_progress(self, run_id: int, progress: Any) -> None:
        if self.is_running(run_id):
            self.live[run_id] = progress
            self._dirty.add(run_id)

    # -- writing progress and heartbeats, reaping --------------------------------------------------------

    async def _loop(self) -> None:
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
            if self.reaps and time.monotonic() - last_reap >= self.reap_interval_s:
                last_reap = time.monotonic()
                try:
                    await self.reap()
                except Exception:
                    log.warning("could not reap dead %s runs", self.kind, exc_info=True)

    async def _beat(self) -> None:
        try:
            await self.lease.refresh()
        except Exception:  # kv down: records still carry heartbeats; other processes fall back to them
            log.warning("could not refresh the owner lease of %s runs", self.kind, exc_info=True)
        try:
            await self.heartbeat()
        except Exception:
            log.warning("could not write %s heartbeats", self.kind, exc_info=True)

    async def flush_progress(self) -> None:
        """Write the live progress of runs that moved since the last flush (when the table has columns
        for it)."""
        dirty, self._dirty = self._dirty, set()
        values = self.spec.progress_values
        if not dirty or values is None:
            return
        now = utcnow()
        async with self.database.engine.begin() as conn:
            for run_id in dirty:
                progress = self.live.get(run_id)
                if progress is not None:
                    await repo.write_progress(conn, self.spec, run_id, values(progress), now)

    async def heartbeat(self) -> None:
        """Refresh the heartbeat of every unfinished run of this process."""
        ids = self.running_ids()
        if ids:
            async with self.database.engine.begin() as conn:
                await repo.beat(conn, self.spec, ids, utcnow())

    # -- failing -----------------------------------------------------------------------------------------

    async def fail(self, ids: Iterable[int], message: str, *, unfinished_only: bool = True) -> list[int]:
        """Mark records failed with ``message`` (by default only those still unfinished); the ids marked."""
        ids = list(ids)
        if not ids:
            return []
        async with self.database.engine.begin() as conn:
            return await repo.fail(conn, self.spec, ids, message, utcnow(), unfinished_only=unfinished_only)

    async def reap(self, *, startup: bool = False, now: datetime | None = None) -> list[int]:
        """Mark failed "interrupted" the unfinished records of dead processes (see the module docstring)
        and run the interrupted hooks on them. ``startup``: this process runs nothing yet."""
        now = now or utcnow()
        cutoff = now - timedelta(seconds=self.stale_after_s)
        async with self.database.engine.connect() as conn:
            rows = [r for r in await repo.unfinished_runs(conn, self.spec) if not self.is_running(r.id)]
        if not rows:
            return []
        judged = {r.owner for r in rows if r.owner is not None and self.lease.judges(r.owner)}
        try:
            alive = await self.lease.alive(judged) if judged else set()
        except Exception:  # kv down: judge by heartbeats only, never reap a live run on a kv outage
            log.warning(
                "could not read owner leases; reaping %s runs by heartbeat only", self.kind, exc_info=True
            )
            alive = judged
        dead: list[int] = []
        for row in rows:
            beat = as_utc(row.heartbeat_at or row.created_at)
            if (
                (beat is not None and beat < cutoff)
                or (row.owner in judged and row.owner not in alive)
                or (startup and self._dead_at_startup(row.owner))
            ):
                dead.append(row.id)
        dead = [i for i in dead if not self.is_running(i)]  # launched meanwhile: ours, alive
        if not dead:
            return []
        async with self.database.engine.begin() as conn:
            marked = await repo.fail(conn, self.spec, dead, self.spec.interrupted, utcnow())
        if marked:
            log.warning(
                "marked %d %s run(s) of dead processes failed interrupted: %s", len(marked), self.kind, marked
            )
            await self._run_interrupted_hooks(marked)
        return marked

    def _dead_at_startup(self, owner: str | None) -> bool:
        if owner == self.owner:
            return True  # a previous life of this owner id
        command = owner is not None and owner.startswith(COMMAND_PREFIX)
        return self.lease.single_process and not command

    async def _run_interrupted_hooks(self, ids: list[int]) -> None:
        for hook in self.interrupted_hooks:
            try:
                await hook(ids)
            except Exception:
                log.exception("cleanup of interrupted %s run(s) %s failed", self.kind, ids)

    async def stop(self, grace_s: float) -> list[int]:
        """Cancel every launched run, give them ``grace_s`` to end, mark what is left failed "interrupted",
        then run the interrupted hooks on those (they may wait briefly for worker threads that cannot be
        killed). Returns the ids it marked: a run that recorded its own end in the grace is not one."""
        ids = list(self._tasks)
        for event in self._cancels.values():
            event.set()
        tasks = list(self._tasks.values())
        if tasks:
            _done, pending = (
                await asyncio.wait(tasks, timeout=grace_s) if grace_s > 0 else (set(), set(tasks))
            )
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(BaseException):
                    await task
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(BaseException):
                await self._loop_task
            self._loop_task = None
        marked = [i for i in ids if i in self._failed_queued]
        try:
            marked += await self.fail(ids, self.spec.stopped_message)
        except Exception:  # the database is down: the next start-up reaps them (and runs the hooks then)
            log.warning("could not mark stopped %s runs %s interrupted", self.kind, ids, exc_info=True)
        self._failed_queued.clear()
        if marked:
            await self._run_interrupted_hooks(marked)
        return marked


@asynccontextmanager
async def detached_tracker(
    database: Database, spec: RunTable, kv: KV, *, stale_after_s: float, progress_interval_s: float = 1.0
) -> AsyncIterator[RunTracker]:
    """A tracker for a run registered by a one-shot command (not the service): a command lease, and a
    loop that keeps the run's heartbeat and the lease fresh, so a running service never reaps it. It
    reaps nothing itself. Claim the record with ``tracker.claim`` and drive it inside ``tracker.hold``."""
    lease = OwnerLease(kv, ttl_s=stale_after_s, command=True)
    tracker = RunTracker(
        database,
        spec,
        lease=lease,
        progress_interval_s=progress_interval_s,
        heartbeat_interval_s=stale_after_s / 4,
        stale_after_s=stale_after_s,
        reaps=False,
    )
    try:
        await lease.refresh()
    except Exception:  # kv down: the heartbeat still speaks for the run; the loop retries the lease
        log.warning("could not register the owner lease of a %s", spec.kind, exc_info=True)
    tracker.start()
    try:
        yield tracker
    finally:
        await tracker.stop(0)
        with contextlib.suppress(Exception):
            await lease.release()
