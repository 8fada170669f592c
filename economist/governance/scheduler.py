"""When governance runs: its policies file loaded at start, every policy after each ingestion this process
ran, and every OCO_ECONOMIST_POLICY_INTERVAL_S on one replica at a time (the kv lock)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from economist.governance.service import GovernanceService, PolicyFileError
from economist.settings import EconomistSettings
from oco.kv import KV, LockNotAcquired
from oco.settings import SettingsError

log = logging.getLogger("economist.governance")

LOCK = "economist:governance:evaluate"


async def evaluate_once(service: GovernanceService, kv: KV, ttl_s: float) -> dict[str, Any] | None:
    """One scheduled pass, unless another replica holds the lock (None then)."""
    try:
        async with kv.lock(LOCK, ttl_s=ttl_s, blocking_timeout_s=0):
            return await service.evaluate_all()
    except LockNotAcquired:
        log.debug("another replica is evaluating the policies")
        return None


async def _every(interval_s: float, service: GovernanceService, kv: KV) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await evaluate_once(service, kv, ttl_s=max(interval_s, 60.0))
        except Exception:
            log.exception("scheduled policy evaluation failed")


def governance_lifespan(
    settings: EconomistSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan hook (after ingestion's and notifications'): app.state.governance and its schedules."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        service = GovernanceService(
            app.state.database,
            settings.tag_normalizer,
            notifier=getattr(app.state, "notifier", None),
            default_currency=settings.oco_economist_default_currency,
        )
        app.state.governance = service
        if settings.oco_economist_policies is not None:
            try:
                loaded = await service.load_file(settings.oco_economist_policies)
            except PolicyFileError as exc:
                raise SettingsError(f"OCO_ECONOMIST_POLICIES: {exc}") from None
            log.info("loaded %d policies from %s", loaded, settings.oco_economist_policies)

        async def after_ingestion(_record: dict[str, Any]) -> None:
            await service.evaluate_all()

        app.state.ingestion.after_success.append(after_ingestion)
        await service.refresh_metrics()
        task = None
        if settings.oco_economist_policy_interval_s > 0:
            task = asyncio.create_task(
                _every(settings.oco_economist_policy_interval_s, service, app.state.kv)
            )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return hook
