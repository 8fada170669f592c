"""What one DR run's procedure works with: its plan and record, the services it calls (backups, restores,
clusters), its step log, its cancel event, and the run columns it has to record at the end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aegis.backups.phase import Phase
from aegis.backups.service import BackupService
from aegis.clusters.service import ClusterService
from aegis.dr.steps import StepFailed, StepLog
from aegis.kube.clusters import ClusterRegistry
from aegis.restores.service import RestoreService
from aegis.settings import AegisSettings
from oco.errors import ApiError

#: How long a DR run waits for a backup or restore it started (it normally ends much sooner).
CHILD_RUN_TIMEOUT_S = 24 * 3600.0


@dataclass
class RunContext:
    run_id: int
    plan: dict[str, Any]
    run: dict[str, Any]
    backups: BackupService
    restores: RestoreService
    clusters: ClusterService
    settings: AegisSettings
    steps: StepLog
    cancel: threading.Event
    clock: Callable[[], datetime]
    find_backup: Callable[[dict[str, Any], str], Any]
    #: run columns recorded when the procedure ends (backup_id, achieved_rto_s, passed, ...)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def registry(self) -> ClusterRegistry:
        return self.clusters.registry

    @property
    def who(self) -> str:
        return f"dr-{self.run['kind']}-{self.run_id}"

    async def backup(self, cluster: str, request: dict[str, Any]) -> dict[str, Any]:
        """Run a backup through the backups capability and wait for it; StepFailed unless Completed."""
        try:
            started = await self.backups.start(request, created_by=self.who)
        except ApiError as exc:
            raise StepFailed("backup", f"the backup of {cluster!r} could not start: {exc.message}") from None
        self.values["backup_id"] = started["id"]
        await self.steps.save(backup_id=started["id"])
        record = await self.backups.wait(started["id"])
        if record is None or record["phase"] != Phase.COMPLETED:
            phase = record["phase"] if record else "missing"
            why = (record or {}).get("error") or f"{len((record or {}).get('errors') or [])} item(s) failed"
            raise StepFailed("backup", f"backup {started['id']} of {cluster!r} ended {phase}: {why}")
        return record

    async def restore(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a restore through the restores capability and wait for it; StepFailed unless Completed."""
        try:
            started = await self.restores.start(request, created_by=self.who)
        except ApiError as exc:
            raise StepFailed("restore", f"the restore could not start: {exc.message}") from None
        self.values["restore_id"] = started["id"]
        await self.steps.save(restore_id=started["id"])
        record = await self.restores.wait(started["id"])
        if record is None or record["phase"] != Phase.COMPLETED:
            phase = record["phase"] if record else "missing"
            failed = [r for r in (record or {}).get("results") or [] if r.get("outcome") == "failed"]
            why = (record or {}).get("error") or f"{len(failed)} object(s) failed"
            raise StepFailed(
                "restore",
                f"restore {started['id']} into {request['cluster']!r} ended {phase}: {why}",
                objects=[
                    f"{r['resource']} {r.get('namespace') or ''}/{r['name']}: {r.get('message')}"
                    for r in failed[:50]
                ],
            )
        return record
