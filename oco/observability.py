"""Request ids, Prometheus metrics and JSON logs: a pure ASGI middleware (no BaseHTTPMiddleware) plus
the unauthenticated /healthz, /readyz and /metrics routes."""

from __future__ import annotations

import contextvars
import logging
import os
import secrets
import sys
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REQUESTS = Counter("oco_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "oco_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "authorization")


def new_request_id() -> str:
    """A short random request id."""
    return secrets.token_hex(8)


def _valid_request_id(value: bytes) -> bool:
    return 0 < len(value) <= 128 and all(
        c in b"-_.:0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ" for c in value
    )


class ObservabilityMiddleware:
    """Sets/propagates X-Request-ID, counts requests and times them per route template."""

    def __init__(self, app: ASGIApp, *, service: str, access_log: bool = False) -> None:
        self.app = app
        self.service = service
        self.access_log = access_log
        self.log = logging.getLogger(f"oco.access.{service}")
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def _metrics(self, method: str, route: str, status: str) -> tuple[Any, Any]:
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = (
                REQUESTS.labels(self.service, method, route, status),
                LATENCY.labels(self.service, route),
            )
            self._children[key] = child
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _valid_request_id(value):
                    request_id = value.decode()
                break
        if request_id is None:
            request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = [500]
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            counter, histogram = self._metrics(scope["method"], template, str(status_holder[0]))
            counter.inc()
            histogram.observe(elapsed)
            if self.access_log:
                self.log.info("%s %s %s %.1fms", scope["method"], template, status_holder[0], elapsed * 1000)
            request_id_var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the request id; values of secret-looking fields are masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = "***" if any(w in key.lower() for w in _SECRET_WORDS) else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """JSON logs on stderr for the whole process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_page() -> bytes:
    """The /metrics exposition: this process's registry, or, with PROMETHEUS_MULTIPROC_DIR set (several
    worker processes, see oco/serve.py), every worker's values merged from that folder."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def forget_this_process() -> None:
    """At a worker's exit in multiprocess mode: drop its live gauges (livesum/liveall...) from the merge."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())


def health_router(service: str) -> APIRouter:
    """/healthz (process up), /readyz (database and, when configured, Redis reachable), /metrics."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/readyz",
        summary="Readiness: database (and Redis when configured) reachable",
        responses={503: {"description": "a dependency is unreachable"}},
    )
    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        ok = True
        for name, probe in (("database", request.app.state.database.ping), ("kv", request.app.state.kv.ping)):
            try:
                await probe()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - report, never raise
                checks[name] = f"unreachable: {type(exc).__name__}"
                ok = False
        body = {"status": "ok" if ok else "unavailable", "service": service, "checks": checks}
        return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type="application/json")

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def metrics() -> Response:
        return Response(metrics_page(), media_type=CONTENT_TYPE_LATEST)

    return router
