"""The aegis FastAPI application: create_app() assembles the kernel skeleton with aegis's capabilities."""

from __future__ import annotations

from fastapi import FastAPI

from oco.app import make_service_app
from oco.settings import PlatformSettings

SERVICE = "aegis"
DEFAULT_PORT = 8082


def create_app(settings: PlatformSettings | None = None) -> FastAPI:
    """The aegis app (scope `aegis`)."""
    return make_service_app(SERVICE, "aegis", [], settings=settings)
