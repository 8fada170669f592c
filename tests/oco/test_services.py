"""Every service: /healthz, /readyz, /metrics unauthenticated; /api/v1/whoami authenticated; one error shape."""

from __future__ import annotations

import importlib

import pytest

SERVICES = ["cerebra", "economist", "aegis"]


@pytest.mark.parametrize("service", SERVICES)
async def test_service_skeleton(service, settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    app = importlib.import_module(f"{service}.app").create_app(settings)
    client = await serve_app(app)

    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["service"] == service
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "kv": "ok"}
    assert (await client.get("/openapi.json")).status_code == 200

    assert (await client.get("/api/v1/whoami")).status_code == 401
    key = await keystore.create(unique(service), [service], team="platform")
    response = await client.get(
        "/api/v1/whoami", headers={"X-API-Key": key.plaintext, "X-Request-ID": "req-123"}
    )
    assert response.status_code == 200
    assert response.json() == {"key_id": key.id, "name": key.name, "scopes": [service], "team": "platform"}
    assert response.headers["x-request-id"] == "req-123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 16

    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert (
        f'oco_http_requests_total{{method="GET",route="/api/v1/whoami",service="{service}",status="200"}}'
        in (metrics.text)
    )

    missing = await client.get("/api/v1/no-such-route", headers={"X-API-Key": key.plaintext})
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}


async def test_readyz_reports_unreachable_redis(settings, serve_app) -> None:  # type: ignore[no-untyped-def]
    settings.redis_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app = importlib.import_module("economist.app").create_app(settings)
    client = await serve_app(app)
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["kv"].startswith("unreachable")
