"""Each service logs one start-up line saying what it serves: economist and aegis their API collections (from
the kernel), cerebra its route table and aliases (its own line, not the kernel's as well)."""

from __future__ import annotations

import importlib
import logging

import pytest


def _serving_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if " serves " in r.getMessage()]


@pytest.mark.parametrize(
    ("service", "collection"), [("economist", "/api/v1/costs"), ("aegis", "/api/v1/backups")]
)
async def test_a_service_logs_what_it_serves_once(service, collection, settings, serve_app, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO):
        await serve_app(importlib.import_module(f"{service}.app").create_app(settings))
    lines = _serving_lines(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    message = lines[0].getMessage()
    assert message.startswith(f"{service} serves ") and collection in message and "/api/v1/whoami" in message


async def test_cerebra_logs_its_own_line_only(settings, serve_app, caplog) -> None:  # type: ignore[no-untyped-def]
    from cerebra.app import create_app
    from cerebra.settings import CerebraSettings

    app = create_app(CerebraSettings(_env_file=None, **{**settings.model_dump(), "oco_cerebra_routes": None}))
    with caplog.at_level(logging.INFO):
        await serve_app(app.api)
    lines = [r.getMessage() for r in _serving_lines(caplog)]
    assert len(lines) == 1 and "route table built-in default" in lines[0] and "demo" in lines[0], lines
