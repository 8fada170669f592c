"""The aegis FastAPI application: create_app() assembles the kernel skeleton with aegis's capabilities
(clusters, storage locations, backups, restores, schedules, DR plans and runs) and the lifespan that registers this process's
owner lease, recovers interrupted runs and stale work files on start-up, runs the scheduler, and interrupts
running backups/restores on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aegis.backups.endpoints import router as backups_router
from aegis.backups.runs import owner_work_dir, sweep_dead_owners, sweep_work_dir
from aegis.backups.service import BackupService
from aegis.clusters.endpoints import router as clusters_router
from aegis.clusters.service import ClusterService
from aegis.dr.endpoints import router as dr_router
from aegis.dr.runs import RunService as DrRunService
from aegis.dr.service import PlanService
from aegis.locations.endpoints import router as locations_router
from aegis.locations.service import S3_ALLOW_SETTING, LocationService
from aegis.rekey.endpoints import router as rekey_router
from aegis.rekey.service import RekeyService
from aegis.restores.endpoints import router as restores_router
from aegis.restores.service import RestoreService
from aegis.schedules.endpoints import router as schedules_router
from aegis.schedules.scheduler import Scheduler
from aegis.schedules.service import ScheduleService
from aegis.settings import AegisSettings
from oco.app import ServingDetails, make_service_app
from oco.netguard import AddressPolicy
from oco.runs import OwnerLease
from oco.settings import PlatformSettings

log = logging.getLogger("aegis")

SERVICE = "aegis"
DEFAULT_PORT = 8082


def _aegis_settings(settings: PlatformSettings | None) -> AegisSettings:
    if settings is None:
        return AegisSettings()
    if isinstance(settings, AegisSettings):
        return settings
    return AegisSettings(_env_file=None, **settings.model_dump())


SHUTDOWN_MARGIN_S = 15.0


async def _stop_all(
    scheduler: Scheduler,
    backups: BackupService,
    restores: RestoreService,
    dr_runs: DrRunService,
    rekey: RekeyService,
) -> None:
    await scheduler.stop()
    await asyncio.gather(backups.stop(), restores.stop(), dr_runs.stop(), rekey.stop())  # one grace period


async def describe_clusters(
    clusters: ClusterService, locations: LocationService, details: ServingDetails
) -> None:
    """Aegis's part of the start-up line: the clusters configured (by name), how many storage locations."""
    names = clusters.names()
    try:
        count: int | None = len(await locations.list())
        stored = f"{count} storage location{'' if count == 1 else 's'}"
    except Exception as exc:  # noqa: BLE001 - a log line never stops start-up
        count, stored = None, f"storage locations unknown ({type(exc).__name__})"
    details.add(
        f"clusters: {', '.join(names)}" if names else "no clusters configured (OCO_AEGIS_CLUSTERS)",
        clusters=names,
    )
    details.add(stored, storage_locations=count)


def create_app(settings: PlatformSettings | None = None) -> FastAPI:
    """The aegis app (scope `aegis`). Platform settings are completed with the `OCO_AEGIS_*` ones from the
    environment; a broken clusters file or encryption key stops start-up with one clear line."""
    aegis_settings = _aegis_settings(settings)
    clusters = ClusterService(
        aegis_settings.cluster_registry(), check_timeout_s=aegis_settings.oco_aegis_cluster_check_timeout_s
    )
    aegis_settings.key_ring()  # validate the encryption keys now, not on the first backup

    @asynccontextmanager
    async def aegis_lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = app.state.database
        lease = OwnerLease(app.state.kv, ttl_s=aegis_settings.oco_aegis_stale_after_s)
        locations = LocationService(
            database,
            local_roots=aegis_settings.local_roots(),
            s3_endpoints=AddressPolicy.parse(
                aegis_settings.oco_aegis_s3_endpoint_allow, setting=S3_ALLOW_SETTING
            ),
        )
        work_root = aegis_settings.oco_aegis_work_dir
        own_work = await asyncio.to_thread(owner_work_dir, work_root, lease.owner)
        run_settings = aegis_settings.model_copy(update={"oco_aegis_work_dir": own_work})
        backups = BackupService(database, run_settings, clusters, locations, lease=lease)
        restores = RestoreService(database, run_settings, clusters, locations, backups, lease=lease)
        schedules = ScheduleService(database, clusters, locations)
        rekey = RekeyService(database, run_settings, locations, lease=lease)
        backups.finished_hooks.append(schedules.on_backup_finished)

        async def sweep_after_reaping(_ids: list[int]) -> None:  # the reaped runs' owners are dead now
            await sweep_dead_owners(work_root, lease)

        for tracker in (backups.tracker, restores.tracker, rekey.tracker):
            tracker.interrupted_hooks.append(sweep_after_reaping)
        scheduler = Scheduler(
            database,
            app.state.kv,
            schedules,
            backups,
            restores,
            interval_s=aegis_settings.oco_aegis_scheduler_interval_s,
        )
        dr_plans = PlanService(database, app.state.kv, clusters, locations, schedules, backups)
        dr_runs = DrRunService(database, aegis_settings, dr_plans, backups, restores, clusters, lease=lease)
        scheduler.tick_hooks.append(dr_runs.tick)
        app.state.dr_plans, app.state.dr_runs = dr_plans, dr_runs
        app.state.clusters, app.state.locations = clusters, locations
        app.state.backups, app.state.restores = backups, restores
        app.state.schedules, app.state.scheduler = schedules, scheduler
        app.state.rekey = rekey

        try:
            await lease.refresh()  # before any record names this owner
        except Exception:  # kv down: heartbeats still protect our records; the loop retries the lease
            log.warning("could not register the owner lease in the kv", exc_info=True)
        if fixed := await locations.absolutize_local_paths():
            log.info("stored %d local storage location path(s) as absolute paths", fixed)
        await backups.recover(startup=True)
        await restores.recover(startup=True)
        await dr_runs.recover(startup=True)
        await rekey.recover(startup=True)
        await sweep_dead_owners(work_root, lease)
        await asyncio.to_thread(sweep_work_dir, work_root, aegis_settings.oco_aegis_stale_after_s)
        await schedules.publish_metrics()
        await describe_clusters(clusters, locations, app.state.serving_details)
        backups.tracker.start()  # also reaps dead runs periodically, scheduler or not
        restores.tracker.start()
        dr_runs.tracker.start()
        rekey.tracker.start()
        if aegis_settings.oco_aegis_scheduler_enabled:
            scheduler.start()
        try:
            yield
        finally:
            # Shutdown is bounded whatever storage or the database do: the grace period for the runs,
            # plus a margin for marking them interrupted and cleaning up (SHUTDOWN_MARGIN_S).
            try:
                await asyncio.wait_for(
                    _stop_all(scheduler, backups, restores, dr_runs, rekey),
                    aegis_settings.oco_aegis_shutdown_grace_s + SHUTDOWN_MARGIN_S,
                )
            except TimeoutError:
                log.error("aegis shutdown took longer than its bound; leftover runs are reaped at next start")
            with contextlib.suppress(OSError):
                own_work.rmdir()  # empty after a clean stop; otherwise the next start removes it
            with contextlib.suppress(Exception):
                await lease.release()

    app = make_service_app(
        SERVICE,
        "aegis",
        [
            clusters_router,
            locations_router,
            backups_router,
            restores_router,
            schedules_router,
            dr_router,
            rekey_router,
        ],
        settings=aegis_settings,
        lifespan_hooks=[aegis_lifespan],
        description="Kubernetes backup and restore: storage locations, backups, restores, schedules; DR plans,"
        " drills, failover and failback.",
    )
    return app
