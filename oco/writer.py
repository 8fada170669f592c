"""Buffered async writer: a bounded queue filled by the request path and a worker that writes batches
(one multi-row INSERT, or COPY on PostgreSQL for large batches), retrying through short outages; with a
spool (oco/spool.py), every row is also on local disk until committed and replayed after a crash."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
from typing import Any

import orjson
import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.exc import DataError, IntegrityError

from oco.db import Database
from oco.spool import RowSpool, Segment, row_decoder

log = logging.getLogger("oco.writer")

ROWS_WRITTEN = Counter("oco_writer_rows_written_total", "Rows written by buffered writers", ["writer"])
ROWS_DROPPED = Counter(
    "oco_writer_rows_dropped_total", "Rows dropped by buffered writers", ["writer", "reason"]
)
WRITE_ERRORS = Counter("oco_writer_write_errors_total", "Failed batch writes (retried)", ["writer"])
QUEUE_DEPTH = Gauge(
    "oco_writer_queue_depth", "Rows waiting in buffered writers", ["writer"], multiprocess_mode="livesum"
)
ROWS_REPLAYED = Counter(
    "oco_writer_rows_replayed_total", "Spooled rows written by a replay (after a crash or a loss)", ["writer"]
)

COPY_THRESHOLD = 200
REDRIVE_INTERVAL_S = 2.0
LOOKUP_CHUNK = 500


def _is_row_error(exc: BaseException) -> bool:
    """A value the database refuses (too long, NOT NULL, bad type): retrying the same rows cannot help.
    asyncpg's own errors arrive unwrapped from COPY, so they are recognised by their SQLSTATE class."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return sqlstate.startswith(("22", "23"))


class BufferedWriter:
    """Never blocks the caller: `enqueue` returns False (and counts a drop) when the queue is full or the
    writer is shutting down. A row the database refuses is dropped alone, never with its batch.

    With `spool` and `spool_key` (the columns naming a row, e.g. request id and time), `enqueue` first
    appends the row to the spool; rows that were dropped (queue full, shutdown, outage past the retry
    window) stay in their spool file and are replayed once the database takes writes again, and files a
    killed process left are replayed at start. A replay skips the rows already stored (looked up by
    `spool_key`), so replaying a file whose rows were partly committed never duplicates one."""

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
        spool: RowSpool | None = None,
        spool_key: tuple[str, str] | None = None,
    ) -> None:
        if spool is not None and spool_key is None:
            raise ValueError("a spooled writer needs spool_key: the id and time columns naming a row")
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
        self._m_replayed = ROWS_REPLAYED.labels(self.name)
        self.spool = spool
        self.spool_key = spool_key
        self.replayed = 0
        self._next_redrive = 0.0
        self._wake = asyncio.Event()  # set when the worker should stop waiting for more rows
        self._wake_at: int | None = None  # queued rows that make a full batch, while the worker waits

    def _drop(self, count: int, reason: str) -> None:
        self.dropped += count
        self._m_dropped[reason].inc(count)

    def enqueue(self, row: dict[str, Any]) -> bool:
        """Queue one row for writing; False when it was dropped (queue full, or shutting down). With a
        spool, the row is on disk before this returns, dropped or not."""
        spool = self.spool
        if spool is not None:
            spool.append(row)
        if self._stopping:
            self._drop(1, "shutdown")
            if spool is not None:
                spool.unqueued()
            return False
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self._drop(1, "queue_full")
            if spool is not None:
                spool.unqueued()
            return False
        if self._wake_at is not None and self.queue.qsize() >= self._wake_at:
            self._wake.set()  # a full batch is waiting: the worker writes it now
        return True

    def start(self) -> None:
        """Start the worker task (idempotent)."""
        if self._task is None:
            self._stopping = False
            self._stop_deadline = float("inf")
            if self.spool is not None:
                self.spool.open()
                self.spool.adopt_leftovers()
            self._task = asyncio.create_task(self._run(), name=f"writer:{self.name}")

    async def stop(self, timeout_s: float | None = None) -> None:
        """Write everything still queued, giving up after `timeout_s` (default: the retry window plus
        5 s) so shutdown is bounded even while the database is down; what is left is counted as dropped."""
        timeout = self.retry_window_s + 5 if timeout_s is None else timeout_s
        self._stopping = True
        self._stop_deadline = time.monotonic() + timeout
        self._wake.set()  # the worker writes what is queued now instead of at the end of its interval
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
        if self.spool is not None:
            self.spool.settled(left, lost=True)
            self.spool.close()  # what was not committed stays on disk for the next start

    async def flush(self) -> None:
        """Wait until every row queued so far has been written (or given up on)."""
        await self.queue.join()

    async def _next_batch(self) -> list[dict[str, Any]]:
        """The rows queued within one flush interval (fewer when stopping, at most a batch). The worker
        sleeps until the interval ends or a full batch is queued (enqueue() wakes it then), not once per
        row: waking for each row cost more than writing it."""
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.flush_interval_s
        while True:
            self._take(batch)
            remaining = deadline - time.monotonic()
            if len(batch) >= self.batch_size or self._stopping or remaining <= 0:
                return batch
            self._wake_at = self.batch_size - len(batch)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=remaining)
            except TimeoutError:
                self._take(batch)
                return batch
            finally:
                self._wake_at = None

    def _take(self, batch: list[dict[str, Any]]) -> None:
        """Move queued rows into `batch`, up to a full batch."""
        queue = self.queue
        while len(batch) < self.batch_size and not queue.empty():
            batch.append(queue.get_nowait())

    async def _run(self) -> None:
        await self._redrive()  # what a killed process left behind
        while True:
            batch = await self._next_batch()
            self._m_depth.set(self.queue.qsize())
            lost = 0
            if batch:
                try:
                    lost = await self._write_with_retry(batch)
                finally:
                    for _ in batch:
                        self.queue.task_done()
                    if self.spool is not None:
                        self.spool.settled(len(batch), lost=lost > 0)
            if self._stopping and self.queue.empty():
                return
            if self.spool is not None and not lost and self.queue.empty():
                await self._redrive()

    # -- spool replay -----------------------------------------------------------------------------
    async def _redrive(self) -> None:
        """Replay the spool files that hold rows not committed (at most every REDRIVE_INTERVAL_S)."""
        spool = self.spool
        if spool is None or time.monotonic() < self._next_redrive:
            return
        self._next_redrive = time.monotonic() + REDRIVE_INTERVAL_S
        spool.adopt_leftovers()
        spool.seal_lossy_active()
        for segment in spool.replayable():
            if self._stopping or not await self._replay(segment):
                return

    async def _replay(self, segment: Segment) -> bool:
        """Write the rows of `segment` that are not stored yet; True when the file could be deleted."""
        assert self.spool is not None
        docs, torn = self.spool.read(segment)
        decode = row_decoder(self.table)
        rows = [decode(doc) for doc in docs]
        try:
            missing = await self._not_yet_stored(rows)
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                try:
                    await self._write(chunk)
                except Exception as exc:  # noqa: BLE001 - a refused row is dropped alone, as in batches
                    if not _is_row_error(exc):
                        raise
                    await self._write_apart(chunk, exc)
                    continue
                self.written += len(chunk)
                self._m_written.inc(len(chunk))
        except Exception as exc:  # noqa: BLE001 - the database is still away: the file stays for later
            log.warning(
                "writer %s: replay of %s deferred (%s)", self.name, segment.path.name, type(exc).__name__
            )
            return False
        self.replayed += len(missing)
        self._m_replayed.inc(len(missing))
        self.spool.release(segment)
        log.info(
            "writer %s: replayed %d rows from spool file %s (%d already stored, %d unreadable lines)",
            self.name,
            len(missing),
            segment.path.name,
            len(rows) - len(missing),
            torn,
            extra={
                "fields": {
                    "writer": self.name,
                    "replayed": len(missing),
                    "already_stored": len(rows) - len(missing),
                    "torn_lines": torn,
                }
            },
        )
        return True

    async def _not_yet_stored(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows whose (id, time) key is not in the table yet (each stored copy cancels one row)."""
        assert self.spool_key is not None
        id_name, time_name = self.spool_key
        id_col, time_col = self.table.c[id_name], self.table.c[time_name]
        stored: collections.Counter[tuple[Any, Any]] = collections.Counter()
        async with self.database.engine.connect() as conn:
            for start in range(0, len(rows), LOOKUP_CHUNK):
                chunk = rows[start : start + LOOKUP_CHUNK]
                times = [row[time_name] for row in chunk]
                query = sa.select(id_col, time_col).where(
                    id_col.in_(sorted({row[id_name] for row in chunk})),
                    time_col >= min(times),
                    time_col <= max(times),
                )
                for found_id, found_at in (await conn.execute(query)).all():
                    stored[(found_id, _utc(found_at))] += 1
        missing = []
        for row in rows:
            key = (row[id_name], _utc(row[time_name]))
            if stored[key] > 0:
                stored[key] -= 1
            else:
                missing.append(row)
        return missing

    # -- batch writes -----------------------------------------------------------------------------
    async def _write_with_retry(self, batch: list[dict[str, Any]]) -> int:
        """Write a batch, retrying within the window; returns how many rows were lost to the outage."""
        started = time.monotonic()
        delay = 0.1
        while True:
            try:
                await self._write(batch)
                self.written += len(batch)
                self._m_written.inc(len(batch))
                return 0
            except Exception as exc:  # noqa: BLE001 - any database error is retried within the window
                if _is_row_error(exc):
                    return await self._write_apart(batch, exc)
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
                    return len(batch)
                log.warning(
                    "writer %s: write failed (%s), retrying in %.1fs", self.name, type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _write_apart(self, batch: list[dict[str, Any]], exc: BaseException) -> int:
        """Split a batch holding a refused row until only the refused rows are left out; returns the rows
        lost to an outage meanwhile (a refused row is not retried, nor replayed: it would be refused again)."""
        if len(batch) == 1:
            log.error(
                "writer %s: the database refused a row (%s); it is dropped", self.name, type(exc).__name__
            )
            self._drop(1, "rejected_row")
            return 0
        middle = len(batch) // 2
        return sum([await self._write_with_retry(half) for half in (batch[:middle], batch[middle:])])

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


def _utc(value: Any) -> Any:
    """A timestamp as naive UTC (SQLite gives naive UTC back, PostgreSQL aware), for comparing keys."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
