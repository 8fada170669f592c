"""DR runs as kernel runs (oco.runs): drills, failovers and failbacks launched in the background with their
step log and progress, one drill and one runbook at a time per plan (409 otherwise), drills on each plan's
drill schedule, and runs a crashed process left marked failed on restart."""

from __future__ import annotations

import builtins
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from aegis.backups.phase import INTERRUPTED, UNFINISHED, Phase
from aegis.backups.service import BackupService
from aegis.clusters.service import ClusterService
from aegis.dr import metrics
from aegis.dr import repository as repo
from aegis.dr.context import RunContext
from aegis.dr.drill import STEPS as DRILL_STEPS
from aegis.dr.drill import run_drill
from aegis.dr.runbook import direction, plan_runbook, run_runbook
from aegis.dr.service import PlanService
from aegis.dr.steps import StepFailed, StepLog
from aegis.dr.tables import dr_runs
from aegis.restores.service import RestoreService
from aegis.schedules.cron import next_fire
from aegis.settings import AegisSettings
from oco.db import Database
from oco.errors import Conflict
from oco.pagination import PageParams
from oco.runs import OwnerLease, ProgressCallback, RunTable, RunTracker
from oco.timeutil import as_utc

log = logging.getLogger("aegis.dr.runs")

SCHEDULER_USER = "scheduler"
RUNBOOKS = ("failover", "failback")
INTERRUPTED_ACTION = (
    "the run was interrupted (the service stopped or died): look at its steps, then start it again"
)


def run_table() -> RunTable:
    """dr_runs for oco.runs: New/InProgress until Failed; a failed run frees its plan (active_key)."""
    return RunTable(
        table=dr_runs,
        kind="dr",
        status_column="phase",
        unfinished=UNFINISHED,
        failed=Phase.FAILED,
        error_values=lambda message: {
            "error": message,
            "active_key": None,
            "next_action": INTERRUPTED_ACTION,
        },
        interrupted=INTERRUPTED,
        progress_values=lambda progress: {"progress": progress},
    )


def _active_key(kind: str, plan_id: int) -> str:
    return f"{'drill' if kind == 'drill' else 'runbook'}:{plan_id}"


class RunService:
    """One per process: starts drills and runbooks, owns their background runs, reads their history."""

    def __init__(
        self,
        database: Database,
        settings: AegisSettings,
        plans: PlanService,
        backups: BackupService,
        restores: RestoreService,
        clusters: ClusterService,
        *,
        lease: OwnerLease | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.plans = plans
        self.backups = backups
        self.restores = restores
        self.clusters = clusters
        self.tracker = RunTracker(
            database,
            run_table(),
            max_concurrent=max(2, settings.oco_aegis_max_concurrent_restores),
            progress_interval_s=settings.oco_aegis_progress_interval_s,
            heartbeat_interval_s=settings.oco_aegis_stale_after_s / 4,
            stale_after_s=settings.oco_aegis_stale_after_s,
            lease=lease if lease is not None else backups.tracker.lease,
        )

    # -- starting ------------------------------------------------------------------------------------------

    async def start_drill(
        self, plan: dict[str, Any], *, keep: bool, created_by: str | None
    ) -> dict[str, Any]:
        """Record a drill and run it in the background; Conflict (409) while a drill of the plan runs."""
        self.clusters.require(plan["target_cluster"], param="target_cluster")
        run_id = await self._insert(plan, "drill", {"keep": keep}, created_by)
        self.tracker.launch(run_id, self._runner(run_id, plan))
        return await self._get_required(run_id)

    async def start_runbook(
        self, plan: dict[str, Any], kind: str, options: dict[str, Any], *, created_by: str | None
    ) -> dict[str, Any]:
        """A failover or failback: in the background (Conflict while one runs on the plan, or when the plan
        is not on the side it would leave), or at once and changing nothing with ``dry_run``."""
        way = direction(kind, plan)
        if not options.get("dry_run") and plan["active_cluster"] != way.leaving:
            raise Conflict(
                f"plan {plan['name']!r} serves from {plan['active_cluster']!r}: a {kind} leaves {way.leaving!r}",
                code="wrong_side",
            )
        recorded = await self._recorded_replicas(plan) if kind == "failback" else None
        if options.get("dry_run"):
            return await self._dry_run(plan, kind, options, recorded, created_by)
        run_id = await self._insert(plan, kind, options, created_by)
        self.tracker.launch(run_id, self._runner(run_id, plan, recorded))
        return await self._get_required(run_id)

    async def _recorded_replicas(self, plan: dict[str, Any]) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            failover = await repo.latest_completed_run(conn, plan["id"], "failover")
        return (failover or {}).get("replicas") or None

    async def _insert(
        self, plan: dict[str, Any], kind: str, options: dict[str, Any], created_by: str | None, **values: Any
    ) -> int:
        now = self.plans.clock()
        dry_run = bool(options.get("dry_run"))
        try:
            async with self.database.engine.begin() as conn:
                run_id = await repo.insert_run(
                    conn,
                    plan_id=plan["id"],
                    kind=kind,
                    phase=Phase.NEW,
                    dry_run=dry_run,
                    options=options,
                    active_key=None if dry_run else _active_key(kind, plan["id"]),
                    short_id=secrets.token_hex(3),
                    source_cluster=plan["source_cluster"],
                    target_cluster=plan["target_cluster"],
                    created_by=created_by,
                    owner=self.tracker.owner,
                    heartbeat_at=now,
                    created_at=now,
                    **values,
                )
                if not dry_run:
                    await self.tracker.claim(conn, run_id)
                return run_id
        except IntegrityError:
            async with self.database.engine.connect() as conn:
                running = await repo.active_run(conn, _active_key(kind, plan["id"]))
            what = "drill" if kind == "drill" else "failover or failback"
            which = f" (run {running['id']}, a {running['kind']})" if running else ""
            raise Conflict(
                f"a {what} of plan {plan['name']!r} is running{which}; wait for it to finish",
                code="run_in_progress",
                extra={"run_id": running["id"]} if running else None,
            ) from None

    async def _dry_run(
        self,
        plan: dict[str, Any],
        kind: str,
        options: dict[str, Any],
        recorded: dict[str, Any] | None,
        created_by: str | None,
    ) -> dict[str, Any]:
        run = {"kind": kind, "options": options, "short_id": "", "id": 0}
        ctx = self._context(
            0, plan, run, StepLog(self.database, 0, (), clock=self.plans.clock), threading.Event()
        )
        steps = await plan_runbook(ctx, direction(kind, plan), recorded)
        now = self.plans.clock()
        run_id = await self._insert(
            plan,
            kind,
            options,
            created_by,
            steps=steps,
            replicas=recorded or {},
        )
        async with self.database.engine.begin() as conn:
            await repo.update_run(conn, run_id, phase=Phase.COMPLETED, started_at=now, finished_at=now)
        return await self._get_required(run_id)

    def _context(
        self,
        run_id: int,
        plan: dict[str, Any],
        run: dict[str, Any],
        steps: StepLog,
        cancel: threading.Event,
    ) -> RunContext:
        return RunContext(
            run_id=run_id,
            plan=plan,
            run=run,
            backups=self.backups,
            restores=self.restores,
            clusters=self.clusters,
            settings=self.settings,
            steps=steps,
            cancel=cancel,
            clock=self.plans.clock,
            find_backup=self.plans.newest_covering_backup,
        )

    def _runner(
        self, run_id: int, plan: dict[str, Any], recorded: dict[str, Any] | None = None
    ) -> Callable[[threading.Event, ProgressCallback], Awaitable[None]]:
        async def run(cancel: threading.Event, progress: ProgressCallback) -> None:
            record = await self._get_required(run_id)
            kind = record["kind"]
            way = direction(kind, plan) if kind in RUNBOOKS else None
            steps = StepLog(
                self.database,
                run_id,
                DRILL_STEPS if way is None else way.steps,
                clock=self.plans.clock,
                progress=progress,
                cancel=cancel,
            )
            started = self.plans.clock()
            await steps.save(phase=Phase.IN_PROGRESS, started_at=started, heartbeat_at=started)
            ctx = self._context(run_id, plan, record, steps, cancel)
            final: dict[str, Any] = {}
            try:
                if way is None:
                    await run_drill(ctx)
                else:
                    await run_runbook(ctx, way, recorded)
                final = {"phase": Phase.COMPLETED, "passed": True}
            except StepFailed as failure:
                final = {
                    "phase": Phase.FAILED,
                    "passed": False,
                    "error": f"{failure.step or 'run'}: {failure.reason}",
                    "next_action": failure.next_action,
                }
            except Exception as exc:  # a bug or the database: the run must not stay running
                log.exception("dr run %s crashed", run_id)
                final = {
                    "phase": Phase.FAILED,
                    "passed": False,
                    "error": f"internal error: {type(exc).__name__}",
                    "next_action": "look at the service's log and the steps recorded, then start the run again",
                }
            finished = self.plans.clock()
            values = {k: v for k, v in ctx.values.items() if k in dr_runs.c}
            await steps.save(
                **{**values, **final}, active_key=None, finished_at=finished, heartbeat_at=finished
            )
            if way is not None and final["phase"] == Phase.COMPLETED:
                await self._moved(plan["id"], way.arriving)
            metrics.DR_RUNS.labels(kind=kind, phase=str(final["phase"])).inc()
            if kind == "drill" and values.get("achieved_rto_s") is not None:
                metrics.RTO_SECONDS.labels(plan=plan["name"]).set(values["achieved_rto_s"])
            log.info("dr %s %s of plan %s: %s", kind, run_id, plan["name"], final["phase"])

        return run

    async def _moved(self, plan_id: int, cluster: str) -> None:
        async with self.database.engine.begin() as conn:
            await repo.update_plan(conn, plan_id, active_cluster=cluster)

    # -- reading -------------------------------------------------------------------------------------------

    async def get(self, run_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            record = await repo.get_run(conn, run_id)
        return self.tracker.overlay(record) if record else None

    async def _get_required(self, run_id: int) -> dict[str, Any]:
        record = await self.get(run_id)
        assert record is not None
        return record

    async def page(
        self, plan_id: int, kinds: tuple[str, ...], params: PageParams
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            records, total = await repo.page_runs(conn, plan_id, kinds, params)
        return [self.tracker.overlay(r) for r in records], total

    async def wait(self, run_id: int) -> dict[str, Any] | None:
        await self.tracker.wait(run_id)
        return await self.get(run_id)

    # -- the scheduler's part and the lifecycle --------------------------------------------------------------

    async def tick(self, now: datetime) -> None:
        """Start the drills that are due (each fire time once, across replicas), then check compliance."""
        async with self.database.engine.connect() as conn:
            due = await repo.due_drills(conn, now)
        for plan in due:
            fire = as_utc(plan["next_drill_at"])
            assert fire is not None
            async with self.database.engine.begin() as conn:
                advanced = await repo.advance_drill(
                    conn, plan["id"], fire, next_fire(plan["drill_schedule"], "UTC", now)
                )
            if not advanced:
                continue
            try:
                await self.start_drill(plan, keep=False, created_by=SCHEDULER_USER)
            except Conflict:
                log.warning("plan %s: scheduled drill skipped, the previous one still runs", plan["name"])
            except Exception:
                log.exception("plan %s: scheduled drill could not start", plan["name"])
        await self.plans.check_all()

    async def recover(self, *, startup: bool = False) -> builtins.list[int]:
        """Mark runs left New/InProgress by a dead process Failed "interrupted" (freeing their plans)."""
        return await self.tracker.reap(startup=startup)

    async def stop(self) -> builtins.list[int]:
        return await self.tracker.stop(self.settings.oco_aegis_shutdown_grace_s)
