"""The cerebra FastAPI application: the kernel skeleton, plus the /v1 gateway mounted as a bare ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from cerebra.admin.budgets import router as budgets_router
from cerebra.admin.endpoints import router as admin_router
from cerebra.admin.limits import router as rate_limits_router
from cerebra.admin.routing import router as routing_router
from cerebra.admin.service import AdminService
from cerebra.analytics.endpoints import router as analytics_router
from cerebra.analytics.retention import LogRetention
from cerebra.analytics.tables import api_requests
from cerebra.budgets.guard import BudgetGuard
from cerebra.budgets.ledger import KvLedger, Ledger, SqlLedger
from cerebra.cache.service import ResponseCache
from cerebra.cache.store import make_store
from cerebra.control.rules import RuleBook
from cerebra.dialects.responses.store import ResponseStore
from cerebra.gateway.asgi import GatewayApp
from cerebra.gateway.core import Gateway
from cerebra.gateway.openapi import install_gateway_openapi
from cerebra.gateway.upstream import UpstreamClient
from cerebra.ratelimit.limiter import RateLimiter
from cerebra.routing.defaults import default_route_file
from cerebra.routing.health import DeploymentHealth
from cerebra.routing.table import RouteTableSource
from cerebra.settings import CerebraSettings
from oco.app import make_service_app
from oco.notify import notifier_from_settings
from oco.observability import ObservabilityMiddleware
from oco.settings import PlatformSettings
from oco.spool import RowSpool
from oco.writer import BufferedWriter

SERVICE = "cerebra"
DEFAULT_PORT = 8080

log = logging.getLogger("cerebra")


def create_app(settings: PlatformSettings | None = None) -> CerebraApp:
    """The cerebra app (scope `cerebra`): /v1 OpenAI-compatible and native routes, /api/v1 admin routes.
    Platform settings are completed with the `OCO_CEREBRA_*` ones from the environment."""
    if not isinstance(settings, CerebraSettings):
        settings = CerebraSettings(**settings.model_dump()) if settings else CerebraSettings()
    # fail at start-up on a broken route file; without one, the built-in default table
    routes = RouteTableSource(
        settings.oco_cerebra_routes, env=settings.provider_env, default=default_route_file
    )

    @asynccontextmanager
    async def gateway_lifespan(app: FastAPI) -> AsyncIterator[None]:
        health = DeploymentHealth(
            app.state.kv,
            failures_to_trip=settings.oco_cerebra_cooldown_failures,
            window_s=settings.oco_cerebra_cooldown_window_s,
            cooldown_s=settings.oco_cerebra_cooldown_s,
            fail_closed=settings.oco_ratelimit_fail_mode == "closed",
        )
        upstream = UpstreamClient(
            health,
            pool_size=settings.oco_cerebra_pool_size,
            connect_timeout_s=settings.oco_cerebra_connect_timeout_s,
            retries=settings.oco_cerebra_retries,
            retry_base_s=settings.oco_cerebra_retry_base_s,
            max_retry_wait_s=settings.oco_cerebra_max_retry_wait_s,
        )
        writer = BufferedWriter(
            app.state.database,
            api_requests,
            queue_size=settings.oco_writer_queue_size,
            batch_size=settings.oco_writer_batch_size,
            flush_interval_s=settings.oco_writer_flush_interval_s,
            retry_window_s=settings.oco_writer_retry_window_s,
            spool=request_log_spool(settings),
            spool_key=("request_id", "created_at"),
        )
        writer.start()
        rules = RuleBook(app.state.database, settings.oco_cerebra_control_refresh_s, routes)
        await rules.reload()
        refresher = asyncio.create_task(rules.run_refresher())
        limiter = RateLimiter(app.state.kv, rules, fail_closed=settings.oco_ratelimit_fail_mode == "closed")
        database = app.state.database
        notifier = notifier_from_settings(database, settings, service=SERVICE)
        notifier.start()
        ledger: Ledger = (
            SqlLedger(database)
            if app.state.kv.backend == "memory" and database.dialect == "postgresql"
            else KvLedger(app.state.kv, database)
        )
        flusher = asyncio.create_task(ledger.run_flusher())
        budgets = BudgetGuard(rules, ledger, database, notifier)
        app.state.budgets = budgets
        cache = ResponseCache(
            make_store(app.state.kv, settings.oco_cerebra_cache_memory_bytes),
            max_entry_bytes=settings.oco_cerebra_cache_max_entry_bytes,
            max_ttl_s=settings.oco_cerebra_cache_max_ttl_s,
        )
        app.state.gateway = Gateway(
            settings, routes, app.state.keys, health, upstream, writer, limiter, budgets, cache
        )
        app.state.admin = AdminService(app.state.database, app.state.keys, rules)
        app.state.responses = ResponseStore(
            app.state.database,
            settings.oco_cerebra_responses_ttl_days,
            retry_window_s=settings.oco_writer_retry_window_s,
        )
        app.state.responses.start()
        retention = LogRetention(
            database, settings.oco_cerebra_log_retention_days, settings.oco_cerebra_log_retention_interval_s
        )
        await retention.start()
        log_serving(routes)
        try:
            yield
        finally:
            refresher.cancel()
            flusher.cancel()
            await retention.stop()
            await app.state.responses.close()
            await writer.stop()
            with contextlib.suppress(Exception):  # the database may be gone: logged by the flusher
                await ledger.flush()
            await notifier.stop()
            await upstream.close()

    api = make_service_app(
        SERVICE,
        "cerebra",
        [admin_router, rate_limits_router, budgets_router, routing_router, analytics_router],
        settings=settings,
        lifespan_hooks=[gateway_lifespan],
        announce=False,
    )  # log_serving() below says what the gateway serves
    install_gateway_openapi(api)  # the /v1 operations, documented without FastAPI routing them
    return CerebraApp(api, settings)


def request_log_spool(settings: CerebraSettings) -> RowSpool | None:
    """The request log's crash spool: `<data dir>/spool/`, one file per process (OCO_WRITER_SPOOL)."""
    if not settings.oco_writer_spool:
        return None
    return RowSpool(settings.oco_data_dir / "spool", api_requests.name)


def log_serving(routes: RouteTableSource) -> None:
    """The start-up line: where the route table comes from and the aliases it serves."""
    aliases = list(routes.current().routes)
    log.info(
        "cerebra serves /v1 (OpenAI-compatible and native routes): route table %s; aliases: %s",
        routes.origin,
        ", ".join(aliases) or "(none)",
        extra={"fields": {"service": SERVICE, "route_table": routes.origin, "aliases": aliases}},
    )


class CerebraApp:
    """The process's ASGI app: /v1/* goes straight to the gateway behind only the observability
    middleware (and CORS when configured), skipping FastAPI's routing on the hot path; everything else
    (health, metrics, docs, /api/v1) is the FastAPI app, whose attributes this object exposes."""

    def __init__(self, api: FastAPI, settings: CerebraSettings) -> None:
        self.api = api
        gateway: ASGIApp = ObservabilityMiddleware(
            GatewayApp(), service=SERVICE, access_log=settings.oco_access_log
        )
        if settings.cors_origins:
            gateway = CORSMiddleware(
                gateway, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
            )
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            scope["app"] = self.api
            await self.gateway(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)
