"""The cerebra FastAPI application: create_app() assembles the kernel skeleton with cerebra's capabilities."""

from __future__ import annotations

from fastapi import FastAPI

from oco.app import make_service_app
from oco.settings import PlatformSettings

SERVICE = "cerebra"
DEFAULT_PORT = 8080


def create_app(settings: PlatformSettings | None = None) -> FastAPI:
    """The cerebra app (scope `cerebra`)."""
    return make_service_app(SERVICE, "cerebra", [], settings=settings)
