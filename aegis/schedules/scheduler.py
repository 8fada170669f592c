"""The scheduler: one tick fires due schedules (a stopped scheduler's missed fire times are counted and run
once), applies retention (keep-last-N per schedule, then TTL), reaps runs of dead processes and runs the
tick hooks of other capabilities (DR drills and compliance).

Only one replica ticks at a time: the tick runs under the kv lock ``aegis-scheduler`` (Redis when
configured, so it spans replicas; in-process otherwise). Firing is also guarded in SQL: a schedule is
advanced with a conditional UPDATE on its ``next_run_at``, so two ticks can never start the same run.
``tick(now=...)`` takes an injectable clock for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aegis.backups import repository as backups_repo
from aegis.backups.naming import generated_name
from aegis.backups.service import BackupService
from aegis.restores.service import RestoreService
from aegis.schedules import metrics
from aegis.schedules import repository as repo
from aegis.schedules.cron import fires_between, next_fire
from aegis.schedules.service import ScheduleService
from oco.db import Database
from oco.errors import ApiError
from oco.kv import KV, LockNotAcquired
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("aegis.scheduler")

LOCK_NAME = "aegis-scheduler"
SCHEDULER_USER = "scheduler"


@dataclass
class TickReport:
    """What one tick did (returned for tests and logs)."""

    fired: list[int] = field(default_factory=list)  # backup ids started
    missed: dict[str, int] = field(default_factory=dict)  # schedule name -> fire times not run
    deleted: list[int] = field(default_factory=list)  # backup ids removed by retention
    reaped: list[int] = field(default_factory=list)  # run ids of dead processes marked interrupted


class Scheduler:
    def __init__(
        self,
        database: Database,
        kv: KV,
        schedules: ScheduleService,
        backups: BackupService,
        restores: RestoreService,
        *,
        interval_s: float,
    ) -> None:
        self.database = database
        self.kv = kv
        self.schedules = schedules
        self.backups = backups
        self.restores = restores
        self.interval_s = interval_s
        #: other capabilities' work on each tick, e.g. DR drills and compliance (errors logged, never raised)
        self.tick_hooks: list[Callable[[datetime], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None

    # -- the loop ------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="aegis-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await self.tick_locked()
            await asyncio.sleep(self.interval_s)

    async def tick_locked(self, now: datetime | None = None) -> TickReport | None:
        """One tick under the scheduler lock; None when another replica holds it."""
        try:
            async with self.kv.lock(LOCK_NAME, ttl_s=max(60.0, 4 * self.interval_s)):
                return await self.tick(now)
        except LockNotAcquired:
            return None
        except Exception:  # database or Redis down: try again next interval
            log.exception("scheduler tick failed")
            return None

    # -- one tick ------------------------------------------------------------------------------------------

    async def tick(self, now: datetime | None = None) -> TickReport:
        """Fire due schedules, apply retention, reap dead runs. ``now`` defaults to the clock."""
        now = as_utc(now) or utcnow()
        report = TickReport()
        report.reaped = await self.backups.recover() + await self.restores.recover()
        await self._fire_due(now, report)
        await self._retention(now, report)
        for hook in self.tick_hooks:
            try:
                await hook(now)
            except Exception:
                log.exception("scheduler tick hook failed")
        return report

    async def _fire_due(self, now: datetime, report: TickReport) -> None:
        async with self.database.engine.connect() as conn:
            jobs = await repo.due_jobs(conn, now)
        for job in jobs:
            try:
                await self._fire(job, now, report)
            except Exception:
                log.exception("schedule %s: firing failed", job["name"])

    async def _fire(self, job: dict[str, Any], now: datetime, report: TickReport) -> None:
        due = as_utc(job["next_run_at"])
        assert due is not None
        count, latest = fires_between(job["cron"], job["timezone"], due, now)
        async with self.database.engine.connect() as conn:
            busy = await backups_repo.has_unfinished_for_job(conn, job["id"])
        missed = count - 1 + (1 if busy else 0)
        async with self.database.engine.begin() as conn:
            advanced = await repo.advance_job(
                conn,
                job["id"],
                due,
                next_run_at=next_fire(job["cron"], job["timezone"], now),
                missed=missed,
                ran_at=None if busy else now,
            )
        if not advanced:
            return  # another scheduler handled this fire time
        if missed:
            report.missed[job["name"]] = missed
            metrics.SCHEDULE_MISSED.labels(schedule=job["name"]).inc(missed)
            log.warning(
                "schedule %s: %d fire time(s) missed%s",
                job["name"],
                missed,
                " (previous run still going)" if busy else "",
            )
        if busy:
            return
        request = ScheduleService.backup_request(job)
        name = generated_name(job["name"], latest)
        try:
            record = await self.backups.start(request, created_by=SCHEDULER_USER, name=name, job_id=job["id"])
        except ApiError as exc:
            record = await self.backups.record_failure(
                request, exc.message, name=name, job_id=job["id"], created_by=SCHEDULER_USER
            )
        metrics.SCHEDULE_RUNS.labels(schedule=job["name"]).inc()
        async with self.database.engine.begin() as conn:
            await repo.update_job(conn, job["id"], last_backup_id=record["id"])
        report.fired.append(record["id"])

    async def _retention(self, now: datetime, report: TickReport) -> None:
        async with self.database.engine.connect() as conn:
            doomed: list[tuple[str, dict[str, Any]]] = []
            for job in await repo.jobs_with_keep_last(conn):
                surplus = await backups_repo.surplus_backups(conn, job["id"], job["keep_last"])
                doomed.extend(("keep_last", r) for r in surplus)
            seen = {r["id"] for _, r in doomed}
            doomed.extend(
                ("ttl", r) for r in await backups_repo.expired_backups(conn, now) if r["id"] not in seen
            )
        for reason, record in doomed:
            if await self.backups.retire(record):
                report.deleted.append(record["id"])
                metrics.RETENTION_DELETED.labels(reason=reason).inc()
                log.info("retention (%s): deleted backup %s (%s)", reason, record["id"], record["name"])
