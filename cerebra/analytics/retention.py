"""Retention of the request log (OCO_CEREBRA_LOG_RETENTION_DAYS; 0 keeps everything): with TimescaleDB a
retention policy on `api_requests` and its hourly aggregate, set at start; otherwise a sweep every
OCO_CEREBRA_LOG_RETENTION_INTERVAL_S that deletes older rows (log and rollup) in bounded batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cerebra.analytics.tables import api_requests, api_requests_daily, api_requests_hourly
from oco.db import Database
from oco.timeutil import utcnow

log = logging.getLogger("cerebra.analytics")
DELETE_BATCH = 10_000


async def has_timescale(database: Database) -> bool:
    if database.dialect != "postgresql":
        return False
    async with database.engine.connect() as conn:
        found = await conn.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))
    return found is not None


async def delete_before(database: Database, cutoff: datetime, batch: int = DELETE_BATCH) -> int:
    """Delete log rows created before `cutoff` (and the rollups' hours and days before it; the sweep passes
    a midnight so both stay exact), `batch` rows per transaction; the number of log rows deleted."""
    c = api_requests.c
    deleted = 0
    while True:
        async with database.engine.begin() as conn:
            row: sa.ColumnClause[Any] = sa.column("ctid" if database.dialect == "postgresql" else "rowid")
            victims = sa.select(row).select_from(api_requests).where(c.created_at < cutoff).limit(batch)
            statement = sa.delete(api_requests).where(row.in_(victims.scalar_subquery()))
            count = (await conn.execute(statement)).rowcount or 0
        deleted += count
        if count < batch:
            break
    if database.dialect == "postgresql":
        async with database.engine.begin() as conn:
            await conn.execute(sa.delete(api_requests_hourly).where(api_requests_hourly.c.hour < cutoff))
            await conn.execute(sa.delete(api_requests_daily).where(api_requests_daily.c.day < cutoff))
    return deleted


class LogRetention:
    """Applies the retention setting for as long as the service runs."""

    def __init__(self, database: Database, days: int, interval_s: float) -> None:
        self.database = database
        self.days = days
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.days <= 0:
            return
        try:
            if await has_timescale(self.database):
                await self._timescale_policy()
                return
        except Exception as exc:  # the database may be down at start: the sweep below retries
            log.warning(
                "request log retention: cannot read or set the TimescaleDB policy: %s", type(exc).__name__
            )
        self._task = asyncio.create_task(self._sweep(), name="cerebra-log-retention")

    async def _timescale_policy(self) -> None:
        remove = sa.text("SELECT remove_retention_policy(CAST(:r AS regclass), if_exists => true)")
        add = sa.text("SELECT add_retention_policy(CAST(:r AS regclass), make_interval(days => :days))")
        async with self.database.engine.begin() as conn:
            for relation in ("api_requests", "api_requests_hourly"):
                await conn.execute(remove, {"r": relation})
                await conn.execute(add, {"r": relation, "days": self.days})
        log.info("request log retention: TimescaleDB policy of %d days", self.days)

    async def _sweep(self) -> None:
        while True:
            try:
                cutoff = (utcnow() - timedelta(days=self.days)).replace(
                    hour=0, minute=0, second=0, microsecond=0
                )
                deleted = await delete_before(self.database, cutoff)
                if deleted:
                    log.info("request log retention: deleted %d rows older than %d days", deleted, self.days)
            except Exception as exc:  # the database may be down: try again next round
                log.warning("request log retention sweep failed: %s", type(exc).__name__)
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
