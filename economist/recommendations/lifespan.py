"""The recommendations lifespan hook: the service on app.state and a refresh after every ingestion."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from economist.recommendations.service import RecommendationService, RefreshRunning
from economist.settings import EconomistSettings

log = logging.getLogger(__name__)


def recommendations_lifespan(settings: EconomistSettings) -> Any:
    """A lifespan hook (after the ingestion one) putting RecommendationService on app.state.recommendations."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        service = RecommendationService.from_settings(app.state.database, app.state.kv, settings)
        app.state.recommendations = service

        async def after_ingestion(record: dict[str, Any]) -> None:
            try:
                result = await service.refresh()
            except RefreshRunning:
                log.info(
                    "recommendations not refreshed after ingestion %s: a refresh is running", record.get("id")
                )
                return
            log.info(
                "recommendations refreshed after ingestion %s: created %d, updated %d, reopened %d, closed %d",
                record.get("id"), result.created, result.updated, result.reopened, result.closed,
            )  # fmt: skip

        if settings.oco_economist_recommendations_after_ingestion:
            app.state.ingestion.after_success.append(after_ingestion)
        yield

    return hook
