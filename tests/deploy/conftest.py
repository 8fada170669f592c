"""Deploy fixtures: the three services running as their images run them (see services.py), once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import httpx
import pytest

from tests.deploy import services

REQUIRE_TOOLS = os.environ.get("OCO_REQUIRE_DEPLOY_TOOLS", "") == "1"


def require_tool_or_skip(what: str) -> NoReturn:
    """Skip a test whose tool is missing, or fail when OCO_REQUIRE_DEPLOY_TOOLS=1 (.ci/run sets it)."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{what} is required (OCO_REQUIRE_DEPLOY_TOOLS=1) but missing")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="session")
def running_services() -> Iterator[dict[str, services.Running]]:
    """cerebra, economist and aegis from their Dockerfile CMD: as UID 1001 on a read-only root when this
    process is root (as here and in CI), else as the current user."""
    as_image = services.is_root()
    read_only_root = as_image and services.can_make_mount_namespace()
    started: dict[str, services.Running] = {}
    try:
        for name in services.SERVICES:
            started[name] = services.start(name, as_image=as_image, read_only_root=read_only_root)
        yield started
    finally:
        for running in started.values():
            services.stop(running)


@pytest.fixture(scope="session")
def exported_metrics(running_services: dict[str, services.Running]) -> dict[str, set[str]]:
    """The metric names each running service exports on /metrics."""
    result: dict[str, set[str]] = {}
    for name, running in running_services.items():
        response = httpx.get(f"{running.url}/metrics", timeout=10)
        response.raise_for_status()
        result[name] = services.metric_names(response.text)
    return result
