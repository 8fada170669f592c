"""The economist FastAPI application: create_app() assembles the kernel skeleton with economist's capabilities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from economist.anomalies.endpoints import router as anomalies_router
from economist.costs.endpoints import router as costs_router
from economist.forecast.endpoints import router as forecast_router
from economist.fx.endpoints import router as fx_router
from economist.governance.endpoints import router as governance_router
from economist.governance.scheduler import governance_lifespan
from economist.ingestion.endpoints import router as ingestion_router
from economist.ingestion.factory import CloudClients, SourceFactory
from economist.ingestion.service import IngestionService
from economist.notifications.endpoints import router as notifications_router
from economist.notifications.service import notifications_lifespan
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
        try:
            yield
        finally:
            await app.state.ingestion.stop()

    # forecast before costs: /costs/forecast must not be taken for a /costs/{...} route
    routers = [ingestion_router, forecast_router, costs_router, anomalies_router, fx_router]
    routers += [governance_router, notifications_router]
    hooks = [
        ingestion_lifespan,
        notifications_lifespan(economist_settings),
        governance_lifespan(economist_settings),
    ]
    return make_service_app(SERVICE, "economist", routers, settings=economist_settings, lifespan_hooks=hooks)
