"""The backups capability: start a backup (runs in a worker thread, progress on the record), read and page
records with live progress, delete a backup's archive, list an archive's contents, open it for download."""

from __future__ import annotations

import asyncio
import builtins
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy.exc import IntegrityError

from aegis.archive.keys import DEFAULT_KEY_ID
from aegis.archive.reader import ArchiveIntegrityError, ArchiveKeyMissingError
from aegis.backups import metrics
from aegis.backups import repository as repo
from aegis.backups.naming import NAME_MAX, generated_name
from aegis.backups.outcomes import BackupContents, BackupOutcome
from aegis.backups.phase import INTERRUPTED, RESTORABLE, UNFINISHED, Phase
from aegis.backups.progress import ProgressCallback
from aegis.backups.runner import default_backup_key, list_backup_contents, run_backup
from aegis.backups.runs import run_table
from aegis.backups.spec import BackupSpec
from aegis.backups.tables import backup_records
from aegis.clusters.service import ClusterService
from aegis.kube.clusters import ClusterConfigError
from aegis.locations.service import LocationService
from aegis.settings import AegisSettings
from aegis.storage import ObjectLockedError, ObjectNotFoundError, StorageError
from aegis.storage.errors import ArchiveLocked, StorageUnavailable
from oco.db import Database
from oco.errors import ApiError, Conflict, InvalidRequest
from oco.pagination import PageParams
from oco.runs import OwnerLease, RunTracker
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("aegis.backups")

FinishedHook = Callable[[dict[str, Any]], Awaitable[None]]

#: How long the cleanup of an interrupted backup waits for its worker thread (which cannot be killed, and
#: may be uploading) before deleting the archive key; a later upload is reclaimed by TTL retention.
THREAD_WAIT_S = 5.0


class BackupService:
    """One per process: starts backups, owns their background runs, reads and deletes records."""

    def __init__(
        self,
        database: Database,
        settings: AegisSettings,
        clusters: ClusterService,
        locations: LocationService,
        *,
        lease: OwnerLease | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clusters = clusters
        self.locations = locations
        self.keys = settings.key_ring()
        self.encryption_key = self.keys.current_key
        self.tracker = RunTracker(
            database,
            run_table(backup_records, "backup"),
            max_concurrent=settings.oco_aegis_max_concurrent_backups,
            progress_interval_s=settings.oco_aegis_progress_interval_s,
            heartbeat_interval_s=settings.oco_aegis_stale_after_s / 4,
            stale_after_s=settings.oco_aegis_stale_after_s,
            lease=lease,
        )
        self.tracker.interrupted_hooks.append(self._drop_interrupted_archives)
        #: set when a run's worker thread has returned (the thread outlives a cancelled task).
        self._threads: dict[int, threading.Event] = {}
        #: called with the final record of every finished run (the schedules capability listens here).
        self.finished_hooks: list[FinishedHook] = []

    # -- starting ------------------------------------------------------------------------------------------

    async def start(
        self,
        request: dict[str, Any],
        *,
        created_by: str | None,
        name: str | None = None,
        job_id: int | None = None,
    ) -> dict[str, Any]:
        """Record a New backup and run it in the background. ``request`` holds cluster, storage_location,
        ttl_hours and the selection fields. Raises InvalidRequest (422) or Conflict (409), also when the
        cluster is unreachable (nothing is recorded then; failures after the start are the run's)."""
        cluster = self.clusters.require(request["cluster"])
        location = await self.locations.require(request["storage_location"])
        if self.settings.oco_aegis_require_encryption and self.encryption_key is None:
            raise Conflict(
                "encryption is required (OCO_AEGIS_REQUIRE_ENCRYPTION=true) but no encryption key is configured"
                " (OCO_AEGIS_ENCRYPTION_KEY or OCO_AEGIS_ENCRYPTION_KEYS): refusing to write an unencrypted backup",
                code="encryption_required",
            )
        spec = BackupSpec.from_dict({**request, "cluster": cluster, "name": name or "pending"})
        try:
            spec.validate()
        except ValueError as exc:
            raise InvalidRequest(f"invalid backup spec: {exc}") from None
        await self.clusters.require_reachable(cluster)
        ttl = request.get("ttl_hours")
        ttl_hours = self.settings.oco_aegis_default_ttl_hours if ttl is None else ttl
        backup_id, spec = await self._insert(spec, location["name"], name, job_id, ttl_hours, created_by)
        self.tracker.launch(backup_id, self._runner(backup_id, spec, location, ttl_hours or None))
        record = await self.get(backup_id)
        assert record is not None
        return record

    async def record_failure(
        self, request: dict[str, Any], error: str, *, name: str, job_id: int | None, created_by: str | None
    ) -> dict[str, Any]:
        """Record a backup that could not even start (e.g. a schedule naming a cluster that is gone)."""
        spec = BackupSpec.from_dict({**request, "name": name})
        now = utcnow()
        ttl = request.get("ttl_hours")
        ttl_hours = self.settings.oco_aegis_default_ttl_hours if ttl is None else ttl
        async with self.database.engine.begin() as conn:
            if await repo.name_taken(conn, name):
                name = f"{name[: NAME_MAX - 5]}-{secrets.token_hex(2)}"
            backup_id = await repo.insert_backup(
                conn,
                name=name,
                job_id=job_id,
                cluster=str(request.get("cluster") or ""),
                storage_location=str(request.get("storage_location") or ""),
                storage_key=default_backup_key(name),
                phase=Phase.FAILED,
                spec=_spec_dict(spec),
                error=error,
                created_by=created_by,
                created_at=now,
                finished_at=now,
                expires_at=now + timedelta(hours=ttl_hours) if ttl_hours else None,
            )
        metrics.BACKUPS.labels(phase=Phase.FAILED).inc()
        record = await self.get(backup_id)
        assert record is not None
        await self._notify(record)
        return record

    async def _insert(
        self,
        spec: BackupSpec,
        location: str,
        name: str | None,
        job_id: int | None,
        ttl_hours: int,
        created_by: str | None,
    ) -> tuple[int, BackupSpec]:
        """Insert the New record. A name the caller chose must be free (409); a generated or scheduled
        name gets a short random suffix when taken."""
        now = utcnow()
        chosen = name is not None and job_id is None
        base = name or generated_name("backup", now)
        spec.ttl_hours = ttl_hours or None
        for attempt in range(5):
            spec.name = base if attempt == 0 else f"{base[: NAME_MAX - 5]}-{secrets.token_hex(2)}"
            try:
                async with self.database.engine.begin() as conn:
                    if await repo.name_taken(conn, spec.name):
                        raise _NameTaken
                    backup_id = await repo.insert_backup(
                        conn,
                        name=spec.name,
                        job_id=job_id,
                        cluster=spec.cluster,
                        storage_location=location,
                        storage_key=default_backup_key(spec.name),
                        phase=Phase.NEW,
                        spec=_spec_dict(spec),
                        encrypted=self.encryption_key is not None,
                        created_by=created_by,
                        owner=self.tracker.owner,
                        heartbeat_at=now,
                        created_at=now,
                        # set now, so that retention reclaims the record (and any archive a killed
                        # upload completed) even if the run never records its outcome
                        expires_at=now + timedelta(hours=ttl_hours) if ttl_hours else None,
                    )
                return backup_id, spec
            except (_NameTaken, IntegrityError):
                if chosen:
                    raise Conflict(
                        f"a backup named {name!r} exists", code="already_exists", param="name"
                    ) from None
        raise Conflict("could not find a free backup name; retry", code="name_collision")

    def _runner(
        self, backup_id: int, spec: BackupSpec, location: dict[str, Any], ttl_hours: int | None
    ) -> Callable[[threading.Event, ProgressCallback], Awaitable[None]]:
        async def run(cancel: threading.Event, progress: ProgressCallback) -> None:
            started = utcnow()
            async with self.database.engine.begin() as conn:
                await repo.update_backup(
                    conn, backup_id, phase=Phase.IN_PROGRESS, started_at=started, heartbeat_at=started
                )
            metrics.BACKUPS_RUNNING.inc()
            done = self._threads[backup_id] = threading.Event()

            def work() -> BackupOutcome:
                try:
                    return self._run_sync(spec, location, cancel, progress)
                finally:
                    done.set()

            try:
                outcome = await asyncio.to_thread(work)
            finally:
                metrics.BACKUPS_RUNNING.dec()
            self._threads.pop(backup_id, None)
            await self._record(backup_id, outcome, ttl_hours)

        return run

    def _run_sync(
        self, spec: BackupSpec, location: dict[str, Any], cancel: threading.Event, progress: ProgressCallback
    ) -> BackupOutcome:
        key = default_backup_key(spec.name)
        try:
            storage = self.locations.backend(location)
            cluster = self.clusters.registry.connect(spec.cluster)
        except (ClusterConfigError, ApiError) as exc:
            now = utcnow()
            return BackupOutcome(phase=Phase.FAILED, key=key, started_at=now, finished_at=now, error=str(exc))
        started = utcnow()
        with cluster:
            try:
                return run_backup(
                    cluster,
                    spec,
                    storage,
                    key,
                    progress,
                    self.encryption_key,
                    key_id=self.keys.current_id or DEFAULT_KEY_ID,
                    require_encryption=self.settings.oco_aegis_require_encryption,
                    work_dir=self.settings.oco_aegis_work_dir,
                    cancel=cancel,
                    retry=self.settings.kube_retry(),
                )
            except Exception as exc:  # an error the engine or an adapter did not wrap: the run fails, cleanly
                log.exception("backup %s: unexpected error", spec.name)
                error = f"unexpected error: {type(exc).__name__}: {exc}"[:1000]
                return BackupOutcome(
                    phase=Phase.FAILED, key=key, started_at=started, finished_at=utcnow(), error=error
                )

    async def _record(self, backup_id: int, outcome: BackupOutcome, ttl_hours: int | None) -> None:
        finished = outcome.finished_at or utcnow()
        phase = outcome.phase.value
        values: dict[str, Any] = {
            "phase": phase,
            "items_total": outcome.items_total,
            "items_done": outcome.items_done,
            "counts": outcome.counts,
            "errors": [asdict(e) for e in outcome.errors],
            "warnings": outcome.warnings,
            "error": outcome.error,
            "size_bytes": outcome.size_bytes,
            "sha256": outcome.sha256 or None,
            "encrypted": outcome.encrypted and phase != Phase.FAILED,
            "encryption_key_id": outcome.encryption_key_id if phase != Phase.FAILED else None,
            "retain_until": outcome.retain_until,
            "server_version": (outcome.server_version or "")[:64] or None,
            "heartbeat_at": finished,
            "finished_at": finished,
            "expires_at": finished + timedelta(hours=ttl_hours) if ttl_hours else None,
        }
        # The finished hooks (a schedule's last backup / last success) run before the final phase is
        # written: whoever sees the backup finished also sees what the hooks recorded.
        current = await self.get(backup_id)
        if current is not None and current["phase"] != Phase.DELETED:
            await self._notify({**current, **values})
        async with self.database.engine.begin() as conn:
            await repo.record_outcome(conn, backup_id, **values)
        metrics.BACKUPS.labels(phase=phase).inc()
        metrics.BACKUP_DURATION.observe((finished - outcome.started_at).total_seconds())
        metrics.BACKUP_ITEMS.inc(outcome.items_done)
        metrics.BACKUP_ITEM_ERRORS.inc(len(outcome.errors))
        if phase != Phase.FAILED:
            metrics.BACKUP_BYTES.inc(outcome.size_bytes)
            if current is not None:
                metrics.BACKUP_LAST_SIZE.labels(cluster=current["cluster"]).set(outcome.size_bytes)
        log.info("backup %s finished: %s (%d items)", backup_id, phase, outcome.items_done)

    async def _notify(self, record: dict[str, Any]) -> None:
        for hook in self.finished_hooks:
            try:
                await hook(record)
            except Exception:
                log.exception("backup %s: a finished hook failed", record["id"])

    # -- reading -------------------------------------------------------------------------------------------

    async def get(self, backup_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            record = await repo.get_backup(conn, backup_id)
        return self.tracker.overlay(record) if record else None

    async def list(
        self,
        page: PageParams,
        *,
        phase: str | None = None,
        cluster: str | None = None,
        schedule_id: int | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            records, total = await repo.list_backups(
                conn, page, phase=phase, cluster=cluster, job_id=schedule_id
            )
        return [self.tracker.overlay(r) for r in records], total

    async def wait(self, backup_id: int) -> dict[str, Any] | None:
        """Wait for a run of this process to finish; the final record."""
        await self.tracker.wait(backup_id)
        return await self.get(backup_id)

    # -- archives ------------------------------------------------------------------------------------------

    async def _archive_backend(self, record: dict[str, Any]) -> Any:
        if record["phase"] not in RESTORABLE:
            why = "was deleted" if record["phase"] == Phase.DELETED else f"is {record['phase']}"
            raise Conflict(
                f"backup {record['id']} {why}: it has no archive to read",
                code="no_archive",
                param="backup_id",
            )
        location = await self.locations.get(record["storage_location"])
        if location is None:
            raise Conflict(
                f"the storage location {record['storage_location']!r} of backup {record['id']} is no longer"
                " registered",
                code="location_missing",
            )
        return await asyncio.to_thread(self.locations.backend, location)

    async def contents(self, record: dict[str, Any]) -> BackupContents:
        """The archive's index (checksum verified, decrypted when needed); nothing is restored."""
        storage = await self._archive_backend(record)
        self.require_key(record)
        try:
            return await asyncio.to_thread(
                list_backup_contents,
                storage,
                record["storage_key"],
                record["sha256"] or "",
                self.keys,
                work_dir=self.settings.oco_aegis_work_dir,
            )
        except ArchiveKeyMissingError as exc:
            raise Conflict(f"backup {record['id']}: {exc}", code="encryption_key_unknown") from None
        except ArchiveIntegrityError as exc:
            raise Conflict(f"backup {record['id']}: {exc}", code="archive_corrupt") from None
        except ObjectNotFoundError:
            raise Conflict(
                f"the archive of backup {record['id']} is missing from its storage location",
                code="archive_missing",
            ) from None
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from None

    def require_key(self, record: dict[str, Any]) -> None:
        """Conflict (409) when the backup's archive is encrypted and the key it names is not configured."""
        if not record["encrypted"]:
            return
        if not self.keys:
            raise Conflict(
                f"backup {record['id']} is encrypted and no encryption key is configured"
                " (OCO_AEGIS_ENCRYPTION_KEY or OCO_AEGIS_ENCRYPTION_KEYS)",
                code="encryption_key_missing",
            )
        key_id = record.get("encryption_key_id")
        if key_id is not None and key_id not in self.keys:
            raise Conflict(
                f"backup {record['id']} was encrypted with key id {key_id!r}, which is not configured: add"
                " that key to OCO_AEGIS_ENCRYPTION_KEYS to restore it",
                code="encryption_key_unknown",
            )

    async def open_archive(self, record: dict[str, Any]) -> BinaryIO:
        """A binary stream of the stored archive (the caller closes it, from a thread)."""
        storage = await self._archive_backend(record)
        try:
            return await asyncio.to_thread(storage.open_read, record["storage_key"])
        except ObjectNotFoundError:
            raise Conflict(
                f"the archive of backup {record['id']} is missing from its storage location",
                code="archive_missing",
            ) from None
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from None

    # -- deleting ------------------------------------------------------------------------------------------

    async def delete(self, backup_id: int, *, at: datetime | None = None) -> dict[str, Any] | None:
        """Delete the archive from storage and mark the record Deleted (idempotent).
        Raises Conflict while it runs or a restore reads it, StorageUnavailable when storage fails."""
        record = await self.get(backup_id)
        if record is None:
            return None
        if record["phase"] == Phase.DELETED:
            return record
        if record["phase"] in UNFINISHED:
            raise Conflict(
                f"backup {backup_id} is {record['phase']}; wait for it to finish", code="backup_running"
            )
        async with self.database.engine.connect() as conn:
            if await repo.has_running_restore(conn, backup_id):
                raise Conflict(f"backup {backup_id} is being restored", code="backup_in_use")
        await self.delete_archive(record)
        async with self.database.engine.begin() as conn:
            await repo.mark_deleted(conn, backup_id, at or utcnow())
        return await self.get(backup_id)

    async def delete_archive(self, record: dict[str, Any]) -> None:
        """Remove the stored archive (a missing object or a forgotten location is not an error).
        ArchiveLocked (409, nothing deleted) while an Object Lock retention holds it."""
        until = as_utc(record.get("retain_until"))
        if until is not None and until > utcnow():
            raise _locked(record["id"], until)
        location = await self.locations.get(record["storage_location"])
        if location is None:
            return
        try:
            storage = await asyncio.to_thread(self.locations.backend, location)
            await asyncio.to_thread(storage.delete, record["storage_key"])
        except ApiError:
            return
        except ObjectLockedError as exc:
            raise _locked(record["id"], exc.until, exc.mode) from None
        except StorageError as exc:
            raise StorageUnavailable(f"cannot delete the archive of backup {record['id']}: {exc}") from None

    async def retire(self, record: dict[str, Any]) -> bool:
        """Retention: delete the archive and mark the record Deleted; False (and nothing marked) when
        storage fails, so the next scheduler tick tries again."""
        try:
            await self.delete_archive(record)
        except (StorageUnavailable, ArchiveLocked) as exc:
            log.warning("retention: backup %s kept for now: %s", record["id"], exc.message)
            return False
        async with self.database.engine.begin() as conn:
            await repo.mark_deleted(conn, record["id"], utcnow())
        return True

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def recover(self, *, startup: bool = False) -> builtins.list[int]:
        """Mark backups left New/InProgress by a dead process Failed "interrupted" and delete any archive
        they left (``startup``: this process runs nothing yet; see oco.runs)."""
        ids = await self.tracker.reap(startup=startup)
        if ids:
            metrics.INTERRUPTED.labels(kind="backup").inc(len(ids))
        return ids

    async def _drop_interrupted_archives(self, ids: builtins.list[int]) -> None:
        """Interrupted backups keep no archive: wait briefly for their worker threads (one may still be
        uploading), then delete the archive key of each record marked Failed "interrupted" (quietly)."""
        events = [e for e in (self._threads.get(i) for i in ids) if e is not None]
        if events:
            deadline = asyncio.get_running_loop().time() + THREAD_WAIT_S
            for event in events:
                left = deadline - asyncio.get_running_loop().time()
                if left > 0 and not event.is_set():
                    await asyncio.to_thread(event.wait, left)
        for backup_id in ids:
            self._threads.pop(backup_id, None)
            record = await self.get(backup_id)
            if record is None or record["phase"] != Phase.FAILED or record["error"] != INTERRUPTED:
                continue
            try:
                await self.delete_archive(record)
            except Exception as exc:
                log.warning("interrupted backup %s: could not delete its archive: %s", backup_id, exc)

    async def stop(self) -> builtins.list[int]:
        """On shutdown: cancel running backups; they end Failed "interrupted"."""
        ids = await self.tracker.stop(self.settings.oco_aegis_shutdown_grace_s)
        if ids:
            metrics.INTERRUPTED.labels(kind="backup").inc(len(ids))
        return ids


class _NameTaken(Exception):
    pass


def _locked(backup_id: int, until: datetime, mode: str = "") -> ArchiveLocked:
    how = f" ({mode})" if mode else ""
    return ArchiveLocked(
        f"the archive of backup {backup_id} is under S3 Object Lock{how} until {until.isoformat()}: it cannot"
        " be deleted before then (retention deletes it after that time)"
    )


def _spec_dict(spec: BackupSpec) -> dict[str, Any]:
    data = spec.to_dict()
    for key in ("name", "cluster", "storage_location", "page_size"):
        data.pop(key, None)
    return data
