"""Buffered async writer: a bounded queue filled by the request path and a worker that writes batches
(one multi-row INSERT, or COPY on PostgreSQL for large batches), retrying through short outages."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import sqlalchemy as sa
from prometheus_client import Counter, Gauge

from oco.db import Database

log = logging.getLogger("oco.writer")

ROWS_WRITTEN = Counter("oco_writer_rows_written_total", "Rows written by buffered writers", ["writer"])
ROWS_DROPPED = Counter(
    "oco_writer_rows_dropped_total", "Rows dropped by buffered writers", ["writer", "reason"]
)
WRITE_ERRORS = Counter("oco_writer_write_errors_total", "Failed batch writes (retried)", ["writer"])
QUEUE_DEPTH = Gauge("oco_writer_queue_depth", "Rows waiting in buffered writers", ["writer"])

COPY_THRESHOLD = 200


class BufferedWriter:
    """Never blocks the caller: `enqueue` returns False (and counts a drop) when the queue is full."""

    def __init__(
        self,
        database: Database,
        table: sa.Table,
        *,
        name: str | None = None,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        retry_window_s: float = 30.0,
    ) -> None:
        self.database = database
        self.table = table
        self.name = name or table.name
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_window_s = retry_window_s
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self.written = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
        self._m_written = ROWS_WRITTEN.labels(self.name)
        self._m_dropped_full = ROWS_DROPPED.labels(self.name, "queue_full")
        self._m_dropped_failed = ROWS_DROPPED.labels(self.name, "write_failed")
        self._m_errors = WRITE_ERRORS.labels(self.name)
        self._m_depth = QUEUE_DEPTH.labels(self.name)

    def enqueue(self, row: dict[str, Any]) -> bool:
        """Queue one row for writing; False when the buffer is full (the row is dropped and counted)."""
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self.dropped += 1
            self._m_dropped_full.inc()
            return False
        return True

    def start(self) -> None:
        """Start the worker task (idempotent)."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"writer:{self.name}")

    async def stop(self) -> None:
        """Write everything still queued, then stop the worker."""
        self._stopping = True
        if self._task is not None:
            await self._task
            self._task = None

    async def flush(self) -> None:
        """Wait until every row queued so far has been written (or given up on)."""
        while not self.queue.empty() or self._busy:
            await asyncio.sleep(0.01)

    _busy = False

    async def _next_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.flush_interval_s
        while len(batch) < self.batch_size:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if self._stopping or remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), timeout=remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            self._busy = bool(batch)
            self._m_depth.set(self.queue.qsize())
            if batch:
                await self._write_with_retry(batch)
            self._busy = False
            if self._stopping and self.queue.empty():
                return

    async def _write_with_retry(self, batch: list[dict[str, Any]]) -> None:
        started = time.monotonic()
        delay = 0.1
        while True:
            try:
                await self._write(batch)
                self.written += len(batch)
                self._m_written.inc(len(batch))
                return
            except Exception as exc:  # noqa: BLE001 - any database error is retried within the window
                self._m_errors.inc()
                if time.monotonic() - started + delay > self.retry_window_s:
                    log.error(
                        "writer %s dropped %d rows after %.0fs of failures: %s",
                        self.name,
                        len(batch),
                        self.retry_window_s,
                        type(exc).__name__,
                    )
                    self.dropped += len(batch)
                    self._m_dropped_failed.inc(len(batch))
                    return
                log.warning(
                    "writer %s: write failed (%s), retrying in %.1fs", self.name, type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        if self.database.dialect == "postgresql" and len(batch) >= COPY_THRESHOLD:
            await self._copy(batch)
            return
        async with self.database.engine.begin() as conn:
            await conn.execute(self.table.insert(), batch)

    async def _copy(self, batch: list[dict[str, Any]]) -> None:
        columns = [c.name for c in self.table.columns if any(c.name in row for row in batch[:1])]
        records = [
            tuple(
                orjson.dumps(row.get(name)).decode()
                if name in self._json_columns and row.get(name) is not None
                else row.get(name)
                for name in columns
            )
            for row in batch
        ]
        async with self.database.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.copy_records_to_table(self.table.name, records=records, columns=columns)
