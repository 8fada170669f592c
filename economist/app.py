"""The economist FastAPI application: create_app() assembles the kernel skeleton with economist's capabilities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from economist.anomalies.endpoints import router as anomalies_router
from economist.costs.endpoints import router as costs_router
from economist.export.endpoints import router as export_router
from economist.forecast.endpoints import router as forecast_router
from economist.fx.endpoints import router as fx_router
from economist.ingestion.cerebra_schedule import CerebraSchedule
from economist.ingestion.endpoints import router as ingestion_router
from economist.ingestion.factory import CloudClients, SourceFactory
from economist.ingestion.service import IngestionService
from economist.settings import EconomistSettings
from oco.app import make_service_app
from oco.settings import PlatformSettings

SERVICE = "economist"
DEFAULT_PORT = 8081


def _economist_settings(settings: PlatformSettings | None) -> EconomistSettings:
    if settings is None:
        return EconomistSettings()
    if isinstance(settings, EconomistSettings):
        return settings
    return EconomistSettings(_env_file=None, **settings.model_dump())


def create_app(settings: PlatformSettings | None = None, *, clients: CloudClients | None = None) -> FastAPI:
    """The economist app (scope `economist`). `clients` builds the cloud SDK clients (tests: loopback fakes)."""
    economist_settings = _economist_settings(settings)

    @asynccontextmanager
    async def ingestion_lifespan(app: FastAPI) -> AsyncIterator[None]:
        factory = SourceFactory(economist_settings, clients)
        app.state.ingestion = IngestionService(
            app.state.database, economist_settings, factory, kv=app.state.kv
        )
        await app.state.ingestion.open()  # marks ingestions left by a dead process failed "interrupted"
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

    # forecast and export before costs: /costs/forecast must not be taken for a /costs/{...} route
    routers = [ingestion_router, forecast_router, export_router, costs_router, anomalies_router, fx_router]
    return make_service_app(
        SERVICE, "economist", routers, settings=economist_settings, lifespan_hooks=[ingestion_lifespan]
    )
