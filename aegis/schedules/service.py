"""The schedules capability: create, read, change and delete cron schedules of backups; keep each
schedule's last run, last success and its metric up to date as its backups finish."""

from __future__ import annotations

import builtins
import contextlib
from typing import Any

from sqlalchemy.exc import IntegrityError

from aegis.backups.phase import Phase
from aegis.clusters.service import ClusterService
from aegis.locations.service import LocationService
from aegis.schedules import metrics
from aegis.schedules import repository as repo
from aegis.schedules.cron import next_fire
from oco.db import Database
from oco.errors import Conflict
from oco.pagination import PageParams
from oco.timeutil import as_utc, utcnow

_SELECTION = (
    "included_namespaces",
    "excluded_namespaces",
    "included_resources",
    "excluded_resources",
    "label_selector",
    "include_cluster_resources",
)


class ScheduleService:
    def __init__(self, database: Database, clusters: ClusterService, locations: LocationService) -> None:
        self.database = database
        self.clusters = clusters
        self.locations = locations

    async def create(self, values: dict[str, Any], *, created_by: str | None) -> dict[str, Any]:
        """``values``: name, cron, timezone, keep_last, ttl_hours, enabled, cluster, storage_location and
        the selection. Raises InvalidRequest (422) for an unknown cluster/location, Conflict for a taken name."""
        self.clusters.require(values["cluster"])
        await self.locations.require(values["storage_location"])
        now = utcnow()
        enabled = bool(values.get("enabled", True))
        try:
            async with self.database.engine.begin() as conn:
                if await repo.name_taken(conn, values["name"]):
                    raise IntegrityError("name taken", None, Exception())
                job_id = await repo.insert_job(
                    conn,
                    name=values["name"],
                    cluster=values["cluster"],
                    storage_location=values["storage_location"],
                    spec={k: values.get(k) for k in _SELECTION},
                    cron=values["cron"],
                    timezone=values.get("timezone") or "UTC",
                    keep_last=values.get("keep_last"),
                    ttl_hours=values.get("ttl_hours"),
                    enabled=enabled,
                    next_run_at=next_fire(values["cron"], values.get("timezone") or "UTC", now)
                    if enabled
                    else None,
                    missed_runs=0,
                    created_by=created_by,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            raise Conflict(
                f"a schedule named {values['name']!r} exists", code="already_exists", param="name"
            ) from None
        job = await self.get(job_id)
        assert job is not None
        return job

    async def get(self, job_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            return await repo.get_job(conn, job_id)

    async def list(self) -> list[dict[str, Any]]:
        async with self.database.engine.connect() as conn:
            return await repo.list_jobs(conn)

    async def page(self, params: PageParams) -> tuple[builtins.list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await repo.page_jobs(conn, params)

    async def update(self, job_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Apply the changed fields; a new cron, time zone or enabling recomputes the next run from now."""
        job = await self.get(job_id)
        if job is None:
            return None
        if "cluster" in changes:
            self.clusters.require(changes["cluster"])
        if "storage_location" in changes:
            await self.locations.require(changes["storage_location"])
        now = utcnow()
        values: dict[str, Any] = {"updated_at": now}
        for key in ("cron", "timezone", "keep_last", "ttl_hours", "enabled", "cluster", "storage_location"):
            if key in changes:
                values[key] = changes[key]
        spec_changes = {k: v for k, v in changes.items() if k in _SELECTION}
        if spec_changes:
            values["spec"] = {**(job["spec"] or {}), **spec_changes}
        timing = {"cron", "timezone", "enabled"} & set(changes)
        if timing:
            enabled = values.get("enabled", job["enabled"])
            cron, zone = values.get("cron", job["cron"]), values.get("timezone", job["timezone"])
            values["next_run_at"] = next_fire(cron, zone, now) if enabled and cron else None
        async with self.database.engine.begin() as conn:
            await repo.update_job(conn, job_id, **values)
        return await self.get(job_id)

    async def delete(self, job_id: int) -> bool:
        """Delete the schedule; its backups stay (their schedule_id becomes null)."""
        job = await self.get(job_id)
        if job is None:
            return False
        async with self.database.engine.begin() as conn:
            await repo.delete_job(conn, job_id)
        with contextlib.suppress(KeyError):
            metrics.SCHEDULE_LAST_SUCCESS.remove(job["name"])
        return True

    async def on_backup_finished(self, record: dict[str, Any]) -> None:
        """Hook of the backups capability: remember the schedule's last backup and last success."""
        if record.get("job_id") is None:
            return
        values: dict[str, Any] = {"last_backup_id": record["id"]}
        finished = as_utc(record["finished_at"])
        if record["phase"] == Phase.COMPLETED and finished is not None:
            values["last_success_at"] = finished
        async with self.database.engine.begin() as conn:
            await repo.update_job(conn, record["job_id"], **values)
            job = await repo.get_job(conn, record["job_id"])
        if job is not None and "last_success_at" in values:
            metrics.SCHEDULE_LAST_SUCCESS.labels(schedule=job["name"]).set(finished.timestamp())

    async def publish_metrics(self) -> None:
        """Set the last-success gauge of every schedule from the database (on start-up)."""
        for job in await self.list():
            last = as_utc(job["last_success_at"])
            if last is not None:
                metrics.SCHEDULE_LAST_SUCCESS.labels(schedule=job["name"]).set(last.timestamp())

    @staticmethod
    def backup_request(job: dict[str, Any]) -> dict[str, Any]:
        """What BackupService.start takes for a run of this schedule."""
        return {
            "cluster": job["cluster"],
            "storage_location": job["storage_location"],
            "ttl_hours": job["ttl_hours"],
            **{k: v for k, v in (job["spec"] or {}).items() if k in _SELECTION},
        }
