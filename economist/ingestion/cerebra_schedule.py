"""Scheduled pulls of cerebra's FOCUS export: every OCO_ECONOMIST_CEREBRA_INTERVAL_S, yesterday and today
(charge days [yesterday, tomorrow)) are ingested again; a pull replaces the earlier pull of those days, so an
hour pulled twice counts once. One replica at a time: the pull runs under the kv lock, and a replica that
finds the last pull younger than the interval skips its turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from economist.ingestion.service import IngestionService
from oco.kv import KV, LockNotAcquired
from oco.timeutil import utcnow

log = logging.getLogger("economist.ingestion")

LOCK_NAME = "economist:cerebra-pull"
LAST_PULL_KEY = "economist:cerebra-pull:last"


class CerebraSchedule:
    """The periodic pull task of one process (start/stop from the app's lifespan)."""

    def __init__(self, service: IngestionService, kv: KV, interval_s: float) -> None:
        self.service = service
        self.kv = kv
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def pull_once(self) -> int | None:
        """Pull yesterday and today now unless another replica holds the lock or pulled less than an
        interval ago; the ingestion id, or None when skipped."""
        try:
            async with self.kv.lock(LOCK_NAME, ttl_s=max(60.0, 2 * self.interval_s), blocking_timeout_s=0):
                last = await self.kv.get(LAST_PULL_KEY)
                if last is not None and time.time() - float(last) < 0.9 * self.interval_s:
                    return None
                today = utcnow().date()
                record = await self.service.start(
                    "cerebra",
                    (today - timedelta(days=1), today + timedelta(days=1)),
                    {},
                    created_by="schedule",
                )
                await self.service.wait(record["id"])
                await self.kv.set(LAST_PULL_KEY, str(time.time()), ttl_s=self.interval_s)
                return int(record["id"])
        except LockNotAcquired:
            return None

    async def _loop(self) -> None:
        # a stop flag, not only cancellation: waiting for an ingestion (IngestionService.wait) absorbs a cancel
        while not self._stopping.is_set():
            try:
                await self.pull_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next turn tries again; messages never carry the key
                log.warning("scheduled cerebra pull failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="economist-cerebra-pull")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
