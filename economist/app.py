"""The economist FastAPI application: create_app() assembles the kernel skeleton with economist's capabilities."""

from __future__ import annotations

from fastapi import FastAPI

from oco.app import make_service_app
from oco.settings import PlatformSettings

SERVICE = "economist"
DEFAULT_PORT = 8081


def create_app(settings: PlatformSettings | None = None) -> FastAPI:
    """The economist app (scope `economist`)."""
    return make_service_app(SERVICE, "economist", [], settings=settings)
