"""The economist FastAPI application: create_app() assembles the kernel skeleton with economist's capabilities."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from economist.allocation.endpoints import router as allocation_router
from economist.anomalies.endpoints import router as anomalies_router
from economist.budgets.endpoints import router as budgets_router
from economist.budgets.service import BudgetService, ThresholdCrossed
from economist.costs.endpoints import router as costs_router
from economist.export.endpoints import router as export_router
from economist.forecast.endpoints import router as forecast_router
from economist.fx.endpoints import MAX_CSV_BYTES
from economist.fx.endpoints import router as fx_router
from economist.governance.endpoints import router as governance_router
from economist.governance.scheduler import governance_lifespan
from economist.ingestion.cerebra_schedule import CerebraSchedule
from economist.ingestion.endpoints import router as ingestion_router
from economist.ingestion.factory import CloudClients, SourceFactory
from economist.ingestion.service import IngestionService
from economist.ledger.repository import count_rows_up_to
from economist.notifications.endpoints import router as notifications_router
from economist.notifications.service import notifications_lifespan, send_threshold_crossings
from economist.recommendations.endpoints import router as recommendations_router
from economist.recommendations.endpoints import utilization_router
from economist.recommendations.lifespan import recommendations_lifespan
from economist.settings import EconomistSettings
from economist.sources.limits import ReadLimits
from economist.sources.limits import configure as configure_read_limits
from oco.app import ServingDetails, make_service_app
from oco.db import Database
from oco.settings import PlatformSettings

SERVICE = "economist"
DEFAULT_PORT = 8081
#: the start-up line counts ledger rows up to this many (a bounded read), then says "more than"
LEDGER_COUNT_CAP = 1_000_000

log = logging.getLogger("economist")


def _economist_settings(settings: PlatformSettings | None) -> EconomistSettings:
    if settings is None:
        return EconomistSettings()
    if isinstance(settings, EconomistSettings):
        return settings
    return EconomistSettings(_env_file=None, **settings.model_dump())


def create_app(settings: PlatformSettings | None = None, *, clients: CloudClients | None = None) -> FastAPI:
    """The economist app (scope `economist`). `clients` builds the cloud SDK clients (tests: loopback fakes)."""
    economist_settings = _economist_settings(settings)
    configure_read_limits(
        ReadLimits(
            max_decompressed_bytes=economist_settings.oco_economist_max_decompressed_bytes,
            max_line_bytes=economist_settings.oco_economist_max_line_bytes,
            max_field_bytes=economist_settings.oco_economist_max_field_bytes,
        )
    )

    @asynccontextmanager
    async def ingestion_lifespan(app: FastAPI) -> AsyncIterator[None]:
        factory = SourceFactory(economist_settings, clients)
        app.state.ingestion = IngestionService(
            app.state.database, economist_settings, factory, kv=app.state.kv
        )
        await app.state.ingestion.open()  # marks ingestions left by a dead process failed "interrupted"
        await describe_ledger(app.state.database, economist_settings, app.state.serving_details)
        pulls = CerebraSchedule(
            app.state.ingestion, app.state.kv, economist_settings.oco_economist_cerebra_interval_s
        )
        if economist_settings.oco_economist_cerebra_url:
            pulls.start()  # a no-op unless OCO_ECONOMIST_CEREBRA_INTERVAL_S > 0
        try:
            yield
        finally:
            await pulls.stop()
            await app.state.ingestion.stop()

    @asynccontextmanager
    async def budgets_lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.budgets = BudgetService(app.state.database, economist_settings)
        app.state.ingestion.after_success.append(app.state.budgets.after_ingestion)

        async def notify(crossings: list[ThresholdCrossed]) -> None:
            # the notifier is opened by notifications_lifespan, after this hook
            notifier = getattr(app.state, "notifier", None)
            if notifier is not None:
                await send_threshold_crossings(notifier, crossings)

        app.state.budgets.listeners.append(notify)
        yield

    # forecast and export before costs: /costs/forecast must not be taken for a /costs/{...} route
    routers = [ingestion_router, forecast_router, export_router, costs_router, anomalies_router, fx_router]
    routers += [budgets_router, allocation_router, recommendations_router, utilization_router]
    routers += [governance_router, notifications_router]
    hooks = [
        ingestion_lifespan,
        budgets_lifespan,
        recommendations_lifespan(economist_settings),
        notifications_lifespan(economist_settings),
        governance_lifespan(economist_settings),
    ]
    # the routes that take files read more than OCO_MAX_BODY_BYTES, up to their own limits
    uploads = {
        "/api/v1/ingestions/upload": economist_settings.oco_economist_max_upload_bytes,
        "/api/v1/fx-rates/csv": MAX_CSV_BYTES,
    }
    return make_service_app(
        SERVICE, "economist", routers, settings=economist_settings, lifespan_hooks=hooks, body_limits=uploads
    )


async def describe_ledger(database: Database, settings: EconomistSettings, details: ServingDetails) -> None:
    """Economist's part of the start-up line: the ledger's size and the ingest folders."""
    try:
        async with database.engine.connect() as conn:
            rows: int | None = await count_rows_up_to(conn, LEDGER_COUNT_CAP)
    except Exception as exc:  # noqa: BLE001 - a log line never stops start-up
        rows, ledger = None, f"ledger size unknown ({type(exc).__name__})"
    else:
        if rows == 0:
            ledger = "empty ledger (try: oco demo load)"
        elif rows is not None and rows > LEDGER_COUNT_CAP:
            ledger = f"ledger over {LEDGER_COUNT_CAP:,} rows"
        else:
            ledger = f"ledger {rows:,} rows"
    dirs = [str(d) for d in settings.ingest_dirs]
    details.add(ledger, ledger_rows=rows)
    details.add(f"ingest dirs: {', '.join(dirs) or 'none (OCO_ECONOMIST_INGEST_DIRS)'}", ingest_dirs=dirs)
