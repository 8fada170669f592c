"""Hardening (issue #16, finding 8): every service declares its security schemes in OpenAPI, so /docs has
an Authorize button and fuzzers know which operations need a key: `X-API-Key` (apiKey, header) on every
operation but health and metrics, and on cerebra's /v1 also `Authorization: Bearer`."""

from __future__ import annotations

import importlib

import pytest

UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.mark.parametrize("service", ["cerebra", "economist", "aegis"])
async def test_every_operation_but_health_declares_security(service, settings, serve_app) -> None:  # type: ignore[no-untyped-def]
    client = await serve_app(importlib.import_module(f"{service}.app").create_app(settings))
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert len(operations) >= 8, operations
    for path, method, operation in operations:
        declared = {name for requirement in operation.get("security", []) for name in requirement}
        if path in UNAUTHENTICATED:
            assert not declared, (path, method)
            continue
        assert "APIKeyHeader" in declared, (path, method)
        for name in declared:
            assert name in schemes, (path, method, name)
        if path.startswith("/v1/"):
            assert any(schemes[name].get("scheme") == "bearer" for name in declared), (path, method)
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
