"""The DR plans capability: create, read, change and delete plans (a plan with `backup_schedule` owns a
backup schedule of the schedules capability), their compliance status and metrics, and remediation (a
breached RPO starts a backup, never two at once)."""

from __future__ import annotations

import builtins
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from aegis.backups.naming import SCHEDULE_NAME_MAX
from aegis.backups.phase import UNFINISHED
from aegis.backups.service import BackupService
from aegis.clusters.service import ClusterService
from aegis.dr import compliance, metrics
from aegis.dr import repository as repo
from aegis.locations.service import LocationService
from aegis.schedules.cron import next_fire
from aegis.schedules.service import ScheduleService
from oco.db import Database
from oco.errors import ApiError, Conflict, InvalidRequest
from oco.kv import KV, LockNotAcquired
from oco.pagination import PageParams
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("aegis.dr")

REMEDIATION_USER = "dr-remediation"
#: fields of a plan copied into the backup schedule it owns
_SCHEDULED = ("source_cluster", "storage_location", "included_namespaces", "label_selector")


def backup_request(plan: dict[str, Any], cluster: str | None = None) -> dict[str, Any]:
    """What BackupService.start takes to back up a plan's scope (of ``cluster``, default the source)."""
    return {
        "cluster": cluster or plan["source_cluster"],
        "storage_location": plan["storage_location"],
        "included_namespaces": list(plan["included_namespaces"]),
        "label_selector": plan["label_selector"],
        "include_cluster_resources": "auto",
    }


class PlanService:
    """One per process: plans in the database, their compliance now (``clock`` is injectable)."""

    def __init__(
        self,
        database: Database,
        kv: KV,
        clusters: ClusterService,
        locations: LocationService,
        schedules: ScheduleService,
        backups: BackupService,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.kv = kv
        self.clusters = clusters
        self.locations = locations
        self.schedules = schedules
        self.backups = backups
        self.clock = clock

    # -- CRUD ----------------------------------------------------------------------------------------------

    async def _check_references(self, values: dict[str, Any]) -> None:
        for field in ("source_cluster", "target_cluster"):
            if field in values:
                self.clusters.require(values[field], param=field)
        if "storage_location" in values:
            await self.locations.require(values["storage_location"])

    async def _check_schedule(self, schedule_id: int, plan: dict[str, Any]) -> None:
        job = await self.schedules.get(schedule_id)
        if job is None:
            raise InvalidRequest(
                f"schedule {schedule_id} not found", param="schedule_id", code="unknown_schedule"
            )
        if job["cluster"] != plan["source_cluster"]:
            raise InvalidRequest(
                f"schedule {schedule_id} backs up cluster {job['cluster']!r}, not the plan's source_cluster"
                f" {plan['source_cluster']!r}",
                param="schedule_id",
                code="schedule_mismatch",
            )

    async def create(self, values: dict[str, Any], *, created_by: str | None) -> dict[str, Any]:
        """Raises InvalidRequest (422) naming the field for an unknown cluster, location or schedule,
        Conflict (409) for a taken name."""
        await self._check_references(values)
        if values.get("schedule_id") is not None:
            await self._check_schedule(values["schedule_id"], values)
        async with self.database.engine.connect() as conn:
            if await repo.plan_name_taken(conn, values["name"]):
                raise Conflict(
                    f"a DR plan named {values['name']!r} exists", code="already_exists", param="name"
                )
        now = self.clock()
        schedule_id, owns = values.get("schedule_id"), False
        if values.get("backup_schedule"):
            schedule_id, owns = await self._create_schedule(values, created_by), True
        try:
            async with self.database.engine.begin() as conn:
                plan_id = await repo.insert_plan(
                    conn,
                    name=values["name"],
                    source_cluster=values["source_cluster"],
                    target_cluster=values["target_cluster"],
                    included_namespaces=list(values["included_namespaces"]),
                    label_selector=values.get("label_selector"),
                    storage_location=values["storage_location"],
                    schedule_id=schedule_id,
                    owns_schedule=owns,
                    rpo_minutes=values["rpo_minutes"],
                    rto_minutes=values["rto_minutes"],
                    readiness=values["readiness"],
                    drill_schedule=values.get("drill_schedule"),
                    next_drill_at=_next_drill(values.get("drill_schedule"), values.get("enabled", True), now),
                    remediate=bool(values.get("remediate", False)),
                    active_cluster=values["source_cluster"],
                    owner=values.get("owner"),
                    enabled=bool(values.get("enabled", True)),
                    created_by=created_by,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            if owns and schedule_id is not None:
                await self.schedules.delete(schedule_id)
            raise Conflict(
                f"a DR plan named {values['name']!r} exists", code="already_exists", param="name"
            ) from None
        plan = await self.get(plan_id)
        assert plan is not None
        return plan

    async def _create_schedule(self, plan: dict[str, Any], created_by: str | None) -> int:
        base = f"dr-{plan['name']}"
        if len(base) > SCHEDULE_NAME_MAX:
            base = base[: SCHEDULE_NAME_MAX - 5].rstrip("-")
        for attempt in range(5):
            name = (
                base
                if attempt == 0
                else f"{base[: SCHEDULE_NAME_MAX - 5].rstrip('-')}-{secrets.token_hex(2)}"
            )
            try:
                job = await self.schedules.create(
                    {
                        "name": name,
                        "cron": plan["backup_schedule"],
                        "cluster": plan["source_cluster"],
                        "storage_location": plan["storage_location"],
                        "included_namespaces": list(plan["included_namespaces"]),
                        "label_selector": plan.get("label_selector"),
                        "include_cluster_resources": "auto",
                        "enabled": plan.get("enabled", True),
                    },
                    created_by=created_by,
                )
                return int(job["id"])
            except Conflict:
                continue
        raise Conflict(
            "could not find a free name for the plan's backup schedule; retry", code="name_collision"
        )

    async def get(self, plan_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            return await repo.get_plan(conn, plan_id)

    async def page(self, params: PageParams) -> tuple[builtins.list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await repo.page_plans(conn, params)

    async def update(self, plan_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Apply the changed fields; the owned schedule follows the plan's scope, cron and enabling."""
        plan = await self.get(plan_id)
        if plan is None:
            return None
        await self._check_references(changes)
        merged = {**plan, **changes}
        if merged["source_cluster"] == merged["target_cluster"]:
            raise InvalidRequest("target_cluster must differ from source_cluster", param="target_cluster")
        if changes.get("schedule_id") is not None:
            await self._check_schedule(changes["schedule_id"], merged)
        now = self.clock()
        values: dict[str, Any] = {"updated_at": now}
        for key in (
            "source_cluster",
            "target_cluster",
            "included_namespaces",
            "label_selector",
            "storage_location",
            "rpo_minutes",
            "rto_minutes",
            "readiness",
            "drill_schedule",
            "owner",
            "enabled",
            "remediate",
        ):
            if key in changes:
                values[key] = changes[key]
        if "source_cluster" in changes and plan["active_cluster"] == plan["source_cluster"]:
            values["active_cluster"] = changes["source_cluster"]
        if {"drill_schedule", "enabled"} & set(changes):
            values["next_drill_at"] = _next_drill(merged["drill_schedule"], merged["enabled"], now)
        doomed: int | None = None
        if "schedule_id" in changes or "backup_schedule" in changes:
            if plan["owns_schedule"] and plan["schedule_id"] is not None:
                if changes.get("backup_schedule"):  # a new cron for the owned schedule
                    await self.schedules.update(plan["schedule_id"], {"cron": changes["backup_schedule"]})
                else:
                    doomed = plan["schedule_id"]
            if changes.get("backup_schedule") and not (plan["owns_schedule"] and plan["schedule_id"]):
                values["schedule_id"] = await self._create_schedule(
                    {**merged, "name": plan["name"]}, plan["created_by"]
                )
                values["owns_schedule"] = True
            elif "schedule_id" in changes:
                values["schedule_id"], values["owns_schedule"] = changes["schedule_id"], False
            elif doomed is not None:
                values["schedule_id"], values["owns_schedule"] = None, False
        async with self.database.engine.begin() as conn:
            await repo.update_plan(conn, plan_id, **values)
        if doomed is not None:
            await self.schedules.delete(doomed)
        updated = await self.get(plan_id)
        assert updated is not None
        if updated["owns_schedule"] and updated["schedule_id"] is not None:
            await self._sync_schedule(updated, changes)
        return updated

    async def _sync_schedule(self, plan: dict[str, Any], changes: dict[str, Any]) -> None:
        scheduled: dict[str, Any] = {}
        if "source_cluster" in changes:
            scheduled["cluster"] = plan["source_cluster"]
        for key in ("storage_location", "included_namespaces", "label_selector", "enabled"):
            if key in changes:
                scheduled[key] = changes[key]
        if scheduled:
            await self.schedules.update(plan["schedule_id"], scheduled)

    async def delete(self, plan_id: int) -> bool:
        """Delete a plan, its run history and the schedule it owns (its backups stay). Conflict while a
        drill or runbook of the plan runs."""
        plan = await self.get(plan_id)
        if plan is None:
            return False
        async with self.database.engine.connect() as conn:
            for kind in ("drill", "runbook"):
                if await repo.active_run(conn, f"{kind}:{plan_id}") is not None:
                    raise Conflict(f"a {kind} of plan {plan_id} is running; wait for it", code="plan_busy")
        async with self.database.engine.begin() as conn:
            await repo.delete_plan(conn, plan_id)
        if plan["owns_schedule"] and plan["schedule_id"] is not None:
            await self.schedules.delete(plan["schedule_id"])
        metrics.forget(plan["name"])
        return True

    # -- compliance ----------------------------------------------------------------------------------------

    async def newest_covering_backup(
        self, plan: dict[str, Any], cluster: str | None = None
    ) -> dict[str, Any] | None:
        """The newest Completed backup of ``cluster`` (default: the plan's source) covering its scope."""
        async with self.database.engine.connect() as conn:
            backups = await repo.completed_backups(conn, cluster or plan["source_cluster"])
        return compliance.newest_covering(backups, plan)

    async def status(self, plan: dict[str, Any], *, remediate: bool = True) -> dict[str, Any]:
        """The plan's compliance now (metrics updated); a breached RPO on a plan with `remediate` starts a
        backup unless one is already running."""
        now = as_utc(self.clock()) or utcnow()
        backup = await self.newest_covering_backup(plan)
        last_end = as_utc(backup["finished_at"]) if backup else None
        achieved = compliance.achieved_rpo_s(last_end, now)
        rpo_status = compliance.rpo_status(achieved, plan["rpo_minutes"])
        async with self.database.engine.connect() as conn:
            drill = await repo.latest_finished_drill(conn, plan["id"])
        remediation = None
        if rpo_status == "breached" and plan["remediate"] and plan["enabled"] and remediate:
            remediation = await self.remediate(plan)
        metrics.PLAN_STATUS.labels(plan=plan["name"]).set(compliance.STATUS_VALUES[rpo_status])
        metrics.RPO_TARGET_SECONDS.labels(plan=plan["name"]).set(plan["rpo_minutes"] * 60)
        metrics.RTO_TARGET_SECONDS.labels(plan=plan["name"]).set(plan["rto_minutes"] * 60)
        if achieved is not None:
            metrics.RPO_SECONDS.labels(plan=plan["name"]).set(achieved)
        if drill is not None and drill["achieved_rto_s"] is not None:
            metrics.RTO_SECONDS.labels(plan=plan["name"]).set(drill["achieved_rto_s"])
        return {
            "plan_id": plan["id"],
            "plan": plan["name"],
            "checked_at": now,
            "rpo_status": rpo_status,
            "rpo_target_s": plan["rpo_minutes"] * 60,
            "achieved_rpo_s": achieved,
            "last_backup_at": last_end,
            "last_backup_id": backup["id"] if backup else None,
            "rto_status": compliance.rto_status(drill, plan["rto_minutes"]),
            "rto_target_s": plan["rto_minutes"] * 60,
            "last_drill": _last_drill(drill),
            "remediation": remediation,
        }

    async def remediate(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Start a backup of the plan's scope unless one runs already (its remediation backup, or a backup of
        its schedule); under a kv lock, so two replicas or a status read and the scheduler never start two."""
        try:
            async with self.kv.lock(f"aegis-dr-remediate:{plan['id']}", ttl_s=60.0):
                return await self._remediate_locked(plan)
        except LockNotAcquired:
            return {"backup_id": plan["remediation_backup_id"], "started": False}

    async def _remediate_locked(self, plan: dict[str, Any]) -> dict[str, Any]:
        async with self.database.engine.connect() as conn:
            fresh = await repo.get_plan(conn, plan["id"]) or plan
            previous = fresh["remediation_backup_id"]
            if previous is not None and await repo.backup_phase(conn, previous) in UNFINISHED:
                return {"backup_id": previous, "started": False}
            if fresh["schedule_id"] is not None and await repo.has_unfinished_backup_for_job(
                conn, fresh["schedule_id"]
            ):
                return {"backup_id": previous, "started": False}
        try:
            record = await self.backups.start(
                backup_request(fresh), created_by=REMEDIATION_USER, job_id=fresh["schedule_id"]
            )
        except ApiError as exc:
            log.warning("plan %s: remediation backup could not start: %s", fresh["name"], exc.message)
            return {"backup_id": previous, "started": False, "error": exc.message}
        async with self.database.engine.begin() as conn:
            await repo.update_plan(conn, fresh["id"], remediation_backup_id=record["id"])
        log.info("plan %s: RPO breached, remediation backup %s started", fresh["name"], record["id"])
        return {"backup_id": record["id"], "started": True}

    async def check_all(self) -> None:
        """Compliance of every enabled plan (metrics, remediation): the scheduler's tick calls this."""
        async with self.database.engine.connect() as conn:
            plans = await repo.enabled_plans(conn)
        for plan in plans:
            try:
                await self.status(plan)
            except Exception:
                log.exception("plan %s: compliance check failed", plan["name"])


def _next_drill(cron: str | None, enabled: bool, now: datetime) -> datetime | None:
    return next_fire(cron, "UTC", now) if cron and enabled else None


def _last_drill(drill: dict[str, Any] | None) -> dict[str, Any] | None:
    if drill is None:
        return None
    return {
        "id": drill["id"],
        "phase": drill["phase"],
        "passed": drill["passed"],
        "achieved_rto_s": drill["achieved_rto_s"],
        "achieved_rpo_s": drill["achieved_rpo_s"],
        "finished_at": as_utc(drill["finished_at"]),
        "failed_checks": drill["failed_checks"] or [],
    }
