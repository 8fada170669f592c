"""Buffered async writer: a bounded queue filled by the request path and a worker that writes batches
(one multi-row INSERT, or COPY on PostgreSQL for large batches), retrying through short outages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.exc import DataError, IntegrityError

from oco.db import Database

log = logging.getLogger("oco.writer")

ROWS_WRITTEN = Counter("oco_writer_rows_written_total", "Rows written by buffered writers", ["writer"])
ROWS_DROPPED = Counter(
    "oco_writer_rows_dropped_total", "Rows dropped by buffered writers", ["writer", "reason"]
)
WRITE_ERRORS = Counter("oco_writer_write_errors_total", "Failed batch writes (retried)", ["writer"])
QUEUE_DEPTH = Gauge("oco_writer_queue_depth", "Rows waiting in buffered writers", ["writer"])

COPY_THRESHOLD = 200


def _is_row_error(exc: BaseException) -> bool:
    """A value the database refuses (too long, NOT NULL, bad type): retrying the same rows cannot help.
    asyncpg's own errors arrive unwrapped from COPY, so they are recognised by their SQLSTATE class."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return sqlstate.startswith(("22", "23"))


class BufferedWriter:
    """Never blocks the caller: `enqueue` returns False (and counts a drop) when the queue is full or the
    writer is shutting down. A row the database refuses is dropped alone, never with its batch."""

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
        self._stop_deadline = float("inf")
        self._json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
        self._m_written = ROWS_WRITTEN.labels(self.name)
        self._m_dropped = {
            r: ROWS_DROPPED.labels(self.name, r)
            for r in ("queue_full", "write_failed", "shutdown", "rejected_row")
        }
        self._m_errors = WRITE_ERRORS.labels(self.name)
        self._m_depth = QUEUE_DEPTH.labels(self.name)

    def _drop(self, count: int, reason: str) -> None:
        self.dropped += count
        self._m_dropped[reason].inc(count)

    def enqueue(self, row: dict[str, Any]) -> bool:
        """Queue one row for writing; False when it was dropped (queue full, or shutting down)."""
        if self._stopping:
            self._drop(1, "shutdown")
            return False
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self._drop(1, "queue_full")
            return False
        return True

    def start(self) -> None:
        """Start the worker task (idempotent)."""
        if self._task is None:
            self._stopping = False
            self._stop_deadline = float("inf")
            self._task = asyncio.create_task(self._run(), name=f"writer:{self.name}")

    async def stop(self, timeout_s: float | None = None) -> None:
        """Write everything still queued, giving up after `timeout_s` (default: the retry window plus
        5 s) so shutdown is bounded even while the database is down; what is left is counted as dropped."""
        timeout = self.retry_window_s + 5 if timeout_s is None else timeout_s
        self._stopping = True
        self._stop_deadline = time.monotonic() + timeout
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout + 1)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        left = 0
        while not self.queue.empty():
            self.queue.get_nowait()
            self.queue.task_done()
            left += 1
        if left:
            log.error("writer %s: %d rows not written before shutdown", self.name, left)
            self._drop(left, "shutdown")

    async def flush(self) -> None:
        """Wait until every row queued so far has been written (or given up on)."""
        await self.queue.join()

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
            self._m_depth.set(self.queue.qsize())
            if batch:
                try:
                    await self._write_with_retry(batch)
                finally:
                    for _ in batch:
                        self.queue.task_done()
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
                if _is_row_error(exc):
                    await self._write_apart(batch, exc)
                    return
                self._m_errors.inc()
                give_up_at = min(started + self.retry_window_s, self._stop_deadline)
                if time.monotonic() + delay > give_up_at:
                    log.error(
                        "writer %s dropped %d rows after repeated failures: %s",
                        self.name,
                        len(batch),
                        type(exc).__name__,
                    )
                    self._drop(len(batch), "write_failed")
                    return
                log.warning(
                    "writer %s: write failed (%s), retrying in %.1fs", self.name, type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _write_apart(self, batch: list[dict[str, Any]], exc: BaseException) -> None:
        """Split a batch holding a refused row until only the refused rows are left out."""
        if len(batch) == 1:
            log.error(
                "writer %s: the database refused a row (%s); it is dropped", self.name, type(exc).__name__
            )
            self._drop(1, "rejected_row")
            return
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            await self._write_with_retry(half)

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        if self.database.dialect == "postgresql" and len(batch) >= COPY_THRESHOLD:
            await self._copy(batch)
            return
        async with self.database.engine.begin() as conn:
            await conn.execute(self.table.insert(), batch)

    async def _copy(self, batch: list[dict[str, Any]]) -> None:
        columns = [c.name for c in self.table.columns if c.name in batch[0]]
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
