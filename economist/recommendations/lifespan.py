"""The recommendations lifespan hook: the service on app.state, and a refresh in the background after every
ingestion (the ingestion's answer never waits for it; ingestions during a refresh queue one more)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from economist.recommendations.service import RecommendationService, RefreshRunning
from economist.settings import EconomistSettings

log = logging.getLogger(__name__)


class RefreshAfterIngestion:
    """An after-ingestion hook: starts a background refresh, or marks one more due when one is running."""

    def __init__(self, service: RecommendationService) -> None:
        self.service = service
        self.task: asyncio.Task[None] | None = None
        self.due = False

    async def __call__(self, record: dict[str, Any]) -> None:
        self.due = True
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(record.get("id")))

    async def _run(self, ingestion_id: Any) -> None:
        while self.due:
            self.due = False
            try:
                result = await self.service.refresh(wait_s=300.0)
            except RefreshRunning:
                log.info(
                    "recommendations not refreshed after ingestion %s: a refresh is running", ingestion_id
                )
            except Exception:
                log.exception("the recommendations refresh after ingestion %s failed", ingestion_id)
            else:
                log.info(
                    "recommendations refreshed after ingestion %s: created %d, updated %d, reopened %d, closed %d",
                    ingestion_id, result.created, result.updated, result.reopened, result.closed,
                )  # fmt: skip

    async def wait(self) -> None:
        """Until the background refresh (and any queued after it) is done."""
        if self.task is not None:
            await asyncio.shield(self.task)

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def recommendations_lifespan(settings: EconomistSettings) -> Any:
    """A lifespan hook (after the ingestion one): app.state.recommendations (the service) and, unless
    OCO_ECONOMIST_RECOMMENDATIONS_AFTER_INGESTION is off, app.state.recommendations_refresher."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        service = RecommendationService.from_settings(app.state.database, app.state.kv, settings)
        app.state.recommendations = service
        refresher = RefreshAfterIngestion(service)
        app.state.recommendations_refresher = refresher
        if settings.oco_economist_recommendations_after_ingestion:
            app.state.ingestion.after_success.append(refresher)
        try:
            yield
        finally:
            await refresher.stop()

    return hook
