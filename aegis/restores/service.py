"""The restores capability: start a restore of a backup into a cluster (verify, plan, apply tier by tier in
a worker thread with a bounded pool), read and page records with per-item results."""

from __future__ import annotations

import asyncio
import builtins
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from aegis.backups.naming import NAME_MAX, generated_name
from aegis.backups.phase import RESTORABLE, Phase
from aegis.backups.progress import ProgressCallback
from aegis.backups.runs import run_table
from aegis.backups.service import BackupService
from aegis.clusters.service import ClusterService
from aegis.kube.applier import ApplyOutcome
from aegis.kube.clusters import ClusterConfigError
from aegis.locations.service import LocationService
from aegis.restores import metrics
from aegis.restores import repository as repo
from aegis.restores.modifiers import ModifierError
from aegis.restores.outcomes import RestoreItemResult, RestoreOutcome
from aegis.restores.runner import run_restore
from aegis.restores.spec import RestoreSpec
from aegis.restores.tables import restore_records
from aegis.settings import AegisSettings
from oco.db import Database
from oco.errors import ApiError, Conflict, InvalidRequest
from oco.pagination import PageParams
from oco.runs import OwnerLease, RunTracker
from oco.timeutil import utcnow

log = logging.getLogger("aegis.restores")

_SPEC_FIELDS = (
    "included_namespaces",
    "excluded_namespaces",
    "included_resources",
    "excluded_resources",
    "namespace_mapping",
    "label_selector",
    "existing_resource_policy",
    "resource_modifiers",
    "storage_class_mapping",
    "dry_run",
)


class RestoreService:
    """One per process: starts restores, owns their background runs, reads records."""

    def __init__(
        self,
        database: Database,
        settings: AegisSettings,
        clusters: ClusterService,
        locations: LocationService,
        backups: BackupService,
        *,
        lease: OwnerLease | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clusters = clusters
        self.locations = locations
        self.backups = backups
        self.keys = settings.key_ring()
        self.tracker = RunTracker(
            database,
            run_table(restore_records, "restore"),
            max_concurrent=settings.oco_aegis_max_concurrent_restores,
            progress_interval_s=settings.oco_aegis_progress_interval_s,
            heartbeat_interval_s=settings.oco_aegis_stale_after_s / 4,
            stale_after_s=settings.oco_aegis_stale_after_s,
            lease=lease if lease is not None else backups.tracker.lease,
        )

    async def start(
        self, request: dict[str, Any], *, created_by: str | None, name: str | None = None
    ) -> dict[str, Any]:
        """Record a New restore and run it in the background. Raises InvalidRequest (422) or Conflict (409),
        also when the target cluster is unreachable (nothing is recorded then)."""
        backup = await self.backups.get(int(request["backup_id"]))
        if backup is None:
            raise InvalidRequest(
                f"backup {request['backup_id']} not found", param="backup_id", code="unknown_backup"
            )
        if backup["phase"] not in RESTORABLE:
            raise Conflict(
                f"backup {backup['id']} is {backup['phase']}: only Completed or PartiallyFailed backups can be"
                " restored",
                code="backup_not_restorable",
                param="backup_id",
            )
        self.backups.require_key(backup)
        cluster = self.clusters.require(request.get("cluster") or backup["cluster"])
        location = await self.locations.get(backup["storage_location"])
        if location is None:
            raise Conflict(
                f"the storage location {backup['storage_location']!r} of backup {backup['id']} is no longer"
                " registered",
                code="location_missing",
            )
        spec = RestoreSpec.from_dict(
            {
                **{k: request[k] for k in _SPEC_FIELDS if request.get(k) is not None},
                "backup_name": backup["name"],
                "parallelism": self.settings.oco_aegis_restore_workers,
            }
        )
        try:
            spec.validate()
        except ModifierError as exc:
            raise InvalidRequest(
                f"invalid restore spec: {exc}", param=exc.field, code="invalid_modifier"
            ) from None
        except ValueError as exc:
            raise InvalidRequest(f"invalid restore spec: {exc}") from None
        await self.clusters.require_reachable(cluster)
        restore_id = await self._insert(spec, backup, cluster, name, created_by)
        self.tracker.launch(restore_id, self._runner(restore_id, spec, backup, location, cluster))
        record = await self.get(restore_id)
        assert record is not None
        return record

    async def _insert(
        self,
        spec: RestoreSpec,
        backup: dict[str, Any],
        cluster: str,
        name: str | None,
        created_by: str | None,
    ) -> int:
        now = utcnow()
        base = name or generated_name("restore", now)
        for attempt in range(5):
            spec.name = base if attempt == 0 else f"{base[: NAME_MAX - 5]}-{secrets.token_hex(2)}"
            try:
                async with self.database.engine.begin() as conn:
                    if await repo.name_taken(conn, spec.name):
                        raise IntegrityError("name taken", None, Exception())
                    return await repo.insert_restore(
                        conn,
                        name=spec.name,
                        backup_id=backup["id"],
                        cluster=cluster,
                        spec=_spec_dict(spec),
                        phase=Phase.NEW,
                        dry_run=spec.dry_run,
                        created_by=created_by,
                        owner=self.tracker.owner,
                        heartbeat_at=now,
                        created_at=now,
                    )
            except IntegrityError:
                if name is not None:
                    raise Conflict(
                        f"a restore named {name!r} exists", code="already_exists", param="name"
                    ) from None
        raise Conflict("could not find a free restore name; retry", code="name_collision")

    def _runner(
        self,
        restore_id: int,
        spec: RestoreSpec,
        backup: dict[str, Any],
        location: dict[str, Any],
        cluster: str,
    ) -> Callable[[threading.Event, ProgressCallback], Awaitable[None]]:
        async def run(cancel: threading.Event, progress: ProgressCallback) -> None:
            started = utcnow()
            async with self.database.engine.begin() as conn:
                await repo.update_restore(
                    conn, restore_id, phase=Phase.IN_PROGRESS, started_at=started, heartbeat_at=started
                )
            metrics.RESTORES_RUNNING.inc()
            try:
                outcome = await asyncio.to_thread(
                    self._run_sync, spec, backup, location, cluster, cancel, progress
                )
            finally:
                metrics.RESTORES_RUNNING.dec()
            await self._record(restore_id, outcome)

        return run

    def _run_sync(
        self,
        spec: RestoreSpec,
        backup: dict[str, Any],
        location: dict[str, Any],
        cluster: str,
        cancel: threading.Event,
        progress: ProgressCallback,
    ) -> RestoreOutcome:
        try:
            storage = self.locations.backend(location)
            connection = self.clusters.registry.connect(cluster, pool_size=max(32, 2 * spec.parallelism))
        except (ClusterConfigError, ApiError) as exc:
            outcome = RestoreOutcome(phase=Phase.FAILED, dry_run=spec.dry_run, started_at=utcnow())
            outcome.error, outcome.finished_at = str(exc), utcnow()
            return outcome
        started = utcnow()
        with connection:
            try:
                return run_restore(
                    connection,
                    storage,
                    backup["storage_key"],
                    backup["sha256"] or "",
                    spec,
                    progress,
                    self.keys,
                    work_dir=self.settings.oco_aegis_work_dir,
                    cancel=cancel,
                    retry=self.settings.kube_retry(),
                )
            except Exception as exc:  # an error the engine or an adapter did not wrap: the run fails, cleanly
                log.exception("restore %s: unexpected error", spec.name)
                outcome = RestoreOutcome(phase=Phase.FAILED, dry_run=spec.dry_run, started_at=started)
                outcome.error = f"unexpected error: {type(exc).__name__}: {exc}"[:1000]
                outcome.finished_at = utcnow()
                return outcome

    async def _record(self, restore_id: int, outcome: RestoreOutcome) -> None:
        finished = outcome.finished_at or utcnow()
        counts = outcome.counts
        results = [_result_dict(r) for r in outcome.results]
        async with self.database.engine.begin() as conn:
            await repo.update_restore(
                conn,
                restore_id,
                phase=outcome.phase.value,
                items_total=outcome.items_total,
                items_done=outcome.items_done,
                created_count=counts.get(ApplyOutcome.CREATED.value, 0),
                updated_count=counts.get(ApplyOutcome.UPDATED.value, 0),
                skipped_count=counts.get(ApplyOutcome.SKIPPED.value, 0),
                failed_count=counts.get(ApplyOutcome.FAILED.value, 0),
                # no unchanged_count column: "unchanged" is counted from the per-item results on read
                results=results,
                not_planned=outcome.not_planned,
                warnings=outcome.warnings,
                error=outcome.error,
                heartbeat_at=finished,
                finished_at=finished,
            )
        metrics.RESTORES.labels(phase=outcome.phase.value).inc()
        metrics.RESTORE_DURATION.observe((finished - outcome.started_at).total_seconds())
        for outcome_name, count in counts.items():
            if count:
                metrics.RESTORE_ITEMS.labels(outcome=outcome_name).inc(count)
        log.info("restore %s finished: %s %s", restore_id, outcome.phase.value, dict(counts))

    # -- reading -------------------------------------------------------------------------------------------

    async def get(self, restore_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            record = await repo.get_restore(conn, restore_id)
        return self.tracker.overlay(record) if record else None

    async def list(
        self,
        page: PageParams,
        *,
        phase: str | None = None,
        backup_id: int | None = None,
        cluster: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            records, total = await repo.list_restores(
                conn, page, phase=phase, backup_id=backup_id, cluster=cluster
            )
        return [self.tracker.overlay(r) for r in records], total

    async def wait(self, restore_id: int) -> dict[str, Any] | None:
        await self.tracker.wait(restore_id)
        return await self.get(restore_id)

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def recover(self, *, startup: bool = False) -> builtins.list[int]:
        """Mark restores left New/InProgress by a dead process Failed "interrupted" (``startup``: this
        process runs nothing yet; see oco.runs)."""
        ids = await self.tracker.reap(startup=startup)
        if ids:
            metrics.INTERRUPTED.labels(kind="restore").inc(len(ids))
        return ids

    async def stop(self) -> builtins.list[int]:
        ids = await self.tracker.stop(self.settings.oco_aegis_shutdown_grace_s)
        if ids:
            metrics.INTERRUPTED.labels(kind="restore").inc(len(ids))
        return ids


def _result_dict(result: RestoreItemResult) -> dict[str, Any]:
    """One item as stored; the modifier fields only when a modifier touched it (20,000 items stay small)."""
    data: dict[str, Any] = {
        "resource": result.resource,
        "namespace": result.namespace,
        "name": result.name,
        "outcome": result.outcome.value,
        "message": result.message,
    }
    if result.modified_by:
        data["modified_by"] = result.modified_by
    if result.modifier_error:
        data["modifier_error"] = result.modifier_error
    return data


def _spec_dict(spec: RestoreSpec) -> dict[str, Any]:
    data = spec.to_dict()
    for key in ("name", "parallelism", "crd_establish_timeout_s"):
        data.pop(key, None)
    return data
