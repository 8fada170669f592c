"""The rekey capability: re-encrypt archives not on the current key, one at a time, as a kernel run.

Per archive: skip what cannot be done safely now (a restore reads it, an Object Lock holds the old object,
its key is not configured), re-encrypt and verify into a new object (aegis.rekey.engine), point the backup
row at the new object only if the row is unchanged, then remove the old object. A failure at any step
before the switch leaves the old object and the row as they were (a new object already stored is removed).
A dry run records the plan at once (``would_rekey`` / ``would_skip``) and changes nothing.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aegis.archive.keys import KeyRing
from aegis.backups import repository as backups_repo
from aegis.backups.phase import INTERRUPTED, RESTORABLE, UNFINISHED, Phase
from aegis.locations.service import LocationService
from aegis.rekey import metrics
from aegis.rekey import repository as repo
from aegis.rekey.engine import RekeyCancelled, RekeyFailed, drop_object, rekey_archive
from aegis.rekey.tables import rekey_runs
from aegis.settings import AegisSettings
from aegis.storage import StorageBackend, StorageError
from oco.db import Database
from oco.errors import ApiError, Conflict
from oco.pagination import PageParams
from oco.runs import OwnerLease, RunTable, RunTracker
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("aegis.rekey")

REKEYED, SKIPPED, FAILED = "rekeyed", "skipped", "failed"
WOULD_REKEY, WOULD_SKIP = "would_rekey", "would_skip"
#: how long the removal of an old object waits for restores that may still read it
READER_WAIT_S, READER_POLL_S = 900.0, 1.0

RUN_TABLE = RunTable(
    table=rekey_runs,
    kind="rekey",
    status_column="phase",
    unfinished=UNFINISHED,
    failed=Phase.FAILED,
    error_values=lambda message: {"error": message},
    interrupted=INTERRUPTED,
)


class RekeyService:
    """One per process: starts rekey runs (one at a time), reads their records."""

    def __init__(
        self,
        database: Database,
        settings: AegisSettings,
        locations: LocationService,
        *,
        lease: OwnerLease | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.locations = locations
        self.keys: KeyRing = settings.key_ring()
        self.tracker = RunTracker(
            database,
            RUN_TABLE,
            max_concurrent=1,
            heartbeat_interval_s=settings.oco_aegis_stale_after_s / 4,
            stale_after_s=settings.oco_aegis_stale_after_s,
            lease=lease,
        )

    async def start(
        self,
        *,
        dry_run: bool,
        include_unencrypted: bool,
        storage_location: str | None = None,
        created_by: str | None,
    ) -> dict[str, Any]:
        """Record a rekey run (of one storage location's archives, or all): a dry run is Completed at once
        with its plan; a real one runs in the background. Conflict (409) without a current key, or while
        another rekey runs; InvalidRequest (422) for an unknown location."""
        current = self.keys.current_id
        if current is None:
            raise Conflict(
                "no current encryption key is configured (OCO_AEGIS_ENCRYPTION_KEY_CURRENT with"
                " OCO_AEGIS_ENCRYPTION_KEYS, or OCO_AEGIS_ENCRYPTION_KEY): nothing to rekey to",
                code="no_current_key",
            )
        if storage_location is not None:
            await self.locations.require(storage_location)
        now = utcnow()
        async with self.database.engine.begin() as conn:
            if not dry_run and await repo.has_unfinished_run(conn):
                raise Conflict("a rekey run is in progress; wait for it to finish", code="rekey_running")
            backups = await repo.candidates(
                conn, current, include_unencrypted=include_unencrypted, storage_location=storage_location
            )
            common = {
                "dry_run": dry_run,
                "include_unencrypted": include_unencrypted,
                "storage_location": storage_location,
                "target_key_id": current,
                "items_total": len(backups),
                "created_by": created_by,
                "created_at": now,
            }
            if dry_run:
                items = [await self._plan_item(conn, b) for b in backups]
                run_id = await repo.insert_run(
                    conn,
                    **common,
                    phase=Phase.COMPLETED,
                    items=items,
                    items_done=len(items),
                    counts=dict(Counter(i["outcome"] for i in items)),
                    started_at=now,
                    finished_at=now,
                )
            else:
                run_id = await repo.insert_run(conn, **common, phase=Phase.NEW, heartbeat_at=now)
                await self.tracker.claim(conn, run_id)
        if not dry_run:
            self.tracker.launch(run_id, self._runner(run_id, [b["id"] for b in backups]))
        record = await self.get(run_id)
        assert record is not None
        return record

    async def get(self, run_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            return await repo.get_run(conn, run_id)

    async def list(self, page: PageParams) -> tuple[builtins.list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await repo.list_runs(conn, page)

    async def wait(self, run_id: int) -> dict[str, Any] | None:
        await self.tracker.wait(run_id)
        return await self.get(run_id)

    async def recover(self, *, startup: bool = False) -> builtins.list[int]:
        """Mark rekey runs left by a dead process Failed "interrupted" (the archives they did are done)."""
        return await self.tracker.reap(startup=startup)

    async def stop(self) -> builtins.list[int]:
        return await self.tracker.stop(self.settings.oco_aegis_shutdown_grace_s)

    # -- the run -------------------------------------------------------------------------------------------

    async def _plan_item(self, conn: Any, backup: dict[str, Any]) -> dict[str, Any]:
        reason = self._blocker(backup) or (
            "a restore is reading it" if await repo.being_restored(conn, backup["id"]) else None
        )
        return _item(backup, self.keys, WOULD_SKIP if reason else WOULD_REKEY, reason)

    def _blocker(self, backup: dict[str, Any]) -> str | None:
        """Why this backup cannot be rekeyed now, from its row alone (None: go ahead)."""
        key_id = backup["encryption_key_id"]
        if backup["encrypted"] and key_id is not None and key_id not in self.keys:
            return f"its key id {key_id!r} is not configured (add it to OCO_AEGIS_ENCRYPTION_KEYS)"
        until = as_utc(backup["retain_until"])
        if until is not None and until > utcnow():
            return _locked(until.isoformat())
        return None

    def _runner(
        self, run_id: int, backup_ids: builtins.list[int]
    ) -> Callable[[threading.Event, Any], Awaitable[None]]:
        async def run(cancel: threading.Event, _progress: Any) -> None:
            async with self.database.engine.begin() as conn:
                await repo.update_run(conn, run_id, phase=Phase.IN_PROGRESS, started_at=utcnow())
            items: list[dict[str, Any]] = []
            error: str | None = None
            for backup_id in backup_ids:
                if cancel.is_set():
                    error = INTERRUPTED
                    break
                try:
                    item = await self._one(backup_id, cancel)
                except RekeyCancelled:
                    error = INTERRUPTED
                    break
                if item is None:
                    continue
                items.append(item)
                metrics.REKEYED.labels(outcome=item["outcome"]).inc()
                async with self.database.engine.begin() as conn:
                    await repo.update_run(
                        conn,
                        run_id,
                        items=items,
                        items_done=len(items),
                        counts=_counts(items),
                        heartbeat_at=utcnow(),
                    )
            phase = (
                Phase.FAILED
                if error
                else Phase.PARTIALLY_FAILED
                if _counts(items).get(FAILED)
                else Phase.COMPLETED
            )
            async with self.database.engine.begin() as conn:
                await repo.update_run(
                    conn,
                    run_id,
                    phase=phase,
                    error=error,
                    items=items,
                    items_done=len(items),
                    counts=_counts(items),
                    finished_at=utcnow(),
                )
            log.info("rekey %s finished: %s %s", run_id, phase, _counts(items))

        return run

    async def _one(self, backup_id: int, cancel: threading.Event) -> dict[str, Any] | None:
        """Rekey one backup; its result item (None: it no longer has an archive)."""
        async with self.database.engine.connect() as conn:
            backup = await backups_repo.get_backup(conn, backup_id)
            if backup is None or backup["phase"] not in RESTORABLE:
                return None
            restoring = await repo.being_restored(conn, backup_id)
        reason = self._blocker(backup) or (
            "a restore is reading it; run rekey again later" if restoring else None
        )
        if reason:
            return _item(backup, self.keys, SKIPPED, reason)
        location = await self.locations.get(backup["storage_location"])
        if location is None:
            return _item(
                backup, self.keys, FAILED, f"storage location {backup['storage_location']!r} is gone"
            )
        try:
            storage: StorageBackend = await asyncio.to_thread(self.locations.backend, location)
            until = await asyncio.to_thread(storage.locked_until, backup["storage_key"])
        except (ApiError, StorageError) as exc:
            return _item(backup, self.keys, FAILED, str(exc))
        if until is not None:
            return _item(backup, self.keys, SKIPPED, _locked(until.isoformat()))
        try:
            done = await asyncio.to_thread(
                rekey_archive,
                storage,
                backup["storage_key"],
                backup["sha256"] or "",
                backup["name"],
                self.keys,
                work_dir=self.settings.oco_aegis_work_dir,
                cancel=cancel,
            )
        except RekeyCancelled:
            raise
        except RekeyFailed as exc:
            log.warning("rekey of backup %s failed, old archive kept: %s", backup_id, exc)
            return _item(backup, self.keys, FAILED, f"{exc}; the old archive is kept")
        async with self.database.engine.begin() as conn:
            switched = await repo.switch_archive(
                conn,
                backup,
                storage_key=done.storage_key,
                sha256=done.sha256,
                size_bytes=done.size_bytes,
                key_id=done.key_id,
                retain_until=done.retain_until,
            )
        if not switched:
            left = await asyncio.to_thread(drop_object, storage, done.storage_key)
            note = f"; the new object {done.storage_key} could not be removed: {left}" if left else ""
            return _item(
                backup,
                self.keys,
                SKIPPED,
                f"the backup changed during rekey (deleted or being restored){note}",
            )
        problem = await self._wait_for_readers(backup_id, cancel) or await asyncio.to_thread(
            drop_object, storage, backup["storage_key"]
        )
        reason = (
            f"the old object {backup['storage_key']} could not be removed: {problem}" if problem else None
        )
        item = _item(backup, self.keys, REKEYED, reason, from_key_id=done.from_key_id)
        item["new_storage_key"] = done.storage_key
        return item

    async def _wait_for_readers(self, backup_id: int, cancel: threading.Event) -> str | None:
        """A restore that started just before the switch may still fetch the old object: wait for the
        backup's running restores to end before removing it (bounded; the reason when it gave up)."""
        deadline = asyncio.get_running_loop().time() + READER_WAIT_S
        while True:
            async with self.database.engine.connect() as conn:
                if not await repo.being_restored(conn, backup_id):
                    return None
            if cancel.is_set() or asyncio.get_running_loop().time() > deadline:
                return "a restore was still reading it; delete it once that restore has ended"
            await asyncio.sleep(READER_POLL_S)


def _item(
    backup: dict[str, Any],
    keys: KeyRing,
    outcome: str,
    reason: str | None,
    *,
    from_key_id: str | None = None,
) -> dict[str, Any]:
    return {
        "backup_id": backup["id"],
        "backup_name": backup["name"],
        "storage_location": backup["storage_location"],
        "from_key_id": from_key_id or backup["encryption_key_id"],
        "encrypted": bool(backup["encrypted"]),
        "to_key_id": keys.current_id,
        "outcome": outcome,
        "old_storage_key": backup["storage_key"],
        "new_storage_key": None,
        "reason": reason,
    }


def _counts(items: builtins.list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(i["outcome"] for i in items))


def _locked(until: str) -> str:
    return (
        f"its archive is under S3 Object Lock until {until}: the old object cannot be removed before then"
        " (keep its key configured; rekey it after that time)"
    )
