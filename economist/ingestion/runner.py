"""Running one ingestion: a BillingSource's batches are produced in a worker thread (the event loop stays
free, one batch is prefetched while the previous one is written) and written in ONE transaction that also
replaces the ingestion's slice and writes its daily rollup; any failure rolls all of it back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from economist.ingestion import fast_copy
from economist.ingestion import repository as repo
from economist.ingestion.arrow_rollup import ArrowRollup
from economist.ingestion.metrics import INGESTIONS
from economist.ingestion.slices import Cell, LedgerSlice, covered_days, day_start, members_of, origin_of
from economist.ledger.identity import RowDigest
from economist.ledger.tables import prepare_connection
from economist.ledger.tags import TagNormalizer
from economist.sources import BillingSource, SourceBatch, SourceProgress, SourceRowError
from economist.sources.focus_arrow import FastInput, FastPathUnsupported, FocusArrowReader, fast_path_inputs
from oco.db import Database
from oco.errors import ApiError, database_error
from oco.money import exact_sum
from oco.timeutil import utcnow

log = logging.getLogger("economist.ingestion")

ProgressCallback = Callable[[int, SourceProgress], None]  # (rows written so far, source progress)
_TAG_MEMO_LIMIT = 50_000
T = TypeVar("T")


class RunSuperseded(Exception):
    """The record stopped being this run's (reaped as interrupted, or finished elsewhere) before it published:
    the publishing transaction rolls back and the record is left as the other process wrote it."""


class IngestionFailed(ApiError):
    """The ingestion stopped and kept nothing; `errors` is what the record says, `row_error` the bad row.
    As an API error: a database failure (`cause`) answers as oco.errors.database_error says, a bad row or
    any other failure is 400; the body also carries `ingestion_id` and `errors`."""

    def __init__(
        self,
        ingestion_id: int,
        errors: list[dict[str, Any]],
        row_error: SourceRowError | None = None,
        *,
        cause: BaseException | None = None,
    ):
        first = errors[0] if errors else {"message": "ingestion failed"}
        extra = {"ingestion_id": ingestion_id, "errors": errors}
        failure = database_error(cause) if cause is not None else None
        if failure is not None:
            super().__init__(failure.status, failure.message, code=failure.code, extra=extra)
        else:
            super().__init__(
                400,
                str(row_error) if row_error else first["message"],
                code="invalid_row" if row_error else "ingestion_failed",
                param=first.get("column"),
                extra=extra,
            )
        self.ingestion_id = ingestion_id
        self.errors = errors
        self.row_error = row_error

    def __str__(self) -> str:
        return str(self.errors[0]["message"]) if self.errors else "ingestion failed"


def row_error_json(exc: SourceRowError) -> dict[str, Any]:
    """The stored and returned form of a bad row."""
    return {"file": exc.file, "line": exc.line, "column": exc.column, "message": exc.message}


def safe_message(exc: BaseException) -> str:
    """A one-line, bounded description of an unexpected failure (SDK errors carry no credentials)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


async def batches_in_thread(source: BillingSource, batch_size: int) -> AsyncGenerator[SourceBatch, None]:
    """The source's batches, each produced by a worker thread; the next one is read while the caller works."""
    async for batch in iterate_in_thread(source.batches(batch_size)):
        yield batch


async def iterate_in_thread(iterator: Iterator[T]) -> AsyncGenerator[T, None]:
    """A synchronous iterator's items, produced by one worker thread of its own, one item read ahead.

    One thread, not the shared pool: allocators keep per-thread heaps (glibc arenas, Arrow's mimalloc), and an
    iterator hopping across pool threads leaves memory retained in each of them."""
    loop = asyncio.get_running_loop()
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oco-reader")

    def pull() -> T | None:
        return next(iterator, None)

    pending: asyncio.Future[T | None] = loop.run_in_executor(worker, pull)
    try:
        while True:
            batch = await asyncio.shield(pending)  # a cancelled caller must not orphan the worker's batch
            if batch is None:
                return
            pending = loop.run_in_executor(worker, pull)
            yield batch
    finally:
        # let the worker finish its batch before closing the generator (it may not run in two threads)
        with contextlib.suppress(BaseException):
            await pending
        close = getattr(iterator, "close", None)
        if close is not None:
            await loop.run_in_executor(worker, close)
        worker.shutdown(wait=False)


class _RunState:
    """What an ingestion learns from its rows: totals per currency, slice cells, counts, progress."""

    def __init__(
        self,
        ingestion_id: int,
        source: str,
        window: tuple[date, date] | None,
        normalizer: TagNormalizer,
        identity: tuple[str | None, tuple[str, ...]] = (None, ()),
    ):
        self.ingestion_id = ingestion_id
        self.source = source
        self.window = window
        self.identity = identity  # (origin, member files): what the slice replaces, see slices.py
        self.digest = RowDigest()  # the rows' content identity
        self.owner: str | None = None  # the record's owner when the run started (checked at publish)
        self.window_bounds = (day_start(window[0]), day_start(window[1])) if window else None
        self.normalizer = normalizer
        self.totals: dict[str, Decimal] = {}
        self.cells: set[Cell] = set()
        self.rows = 0
        #: the earliest ChargePeriodStart and latest ChargePeriodEnd of the rows kept
        self.first_start: datetime | None = None
        self.last_end: datetime | None = None
        self.progress = SourceProgress()
        self._tag_memo: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def _normalized(self, tags: dict[str, str]) -> dict[str, str]:
        if not tags:
            return {}
        key = tuple(sorted(tags.items()))
        found = self._tag_memo.get(key)
        if found is None:
            if len(self._tag_memo) >= _TAG_MEMO_LIMIT:
                self._tag_memo.clear()
            found = self._tag_memo[key] = self.normalizer.normalize(tags)
        return found

    def accept(self, batch: SourceBatch) -> list[dict[str, Any]]:
        """The batch's rows ready to insert (rows outside the window are dropped)."""
        out: list[dict[str, Any]] = []
        totals, cells, bounds = self.totals, self.cells, self.window_bounds
        for row in batch.rows:
            if bounds and not (bounds[0] <= row["charge_period_start"] < bounds[1]):
                continue
            tags = row["tags"] or {}
            row["tags"] = tags
            row["tags_normalized"] = self._normalized(tags)
            row["source"] = self.source
            row["ingestion_id"] = self.ingestion_id
            currency = row["billing_currency"]
            totals[currency] = exact_sum(totals.get(currency, Decimal(0)), row["billed_cost"])
            cells.add((row["provider_name"], row["billing_account_id"] or "", row["billing_period_start"]))
            out.append(row)
        if out:
            self.digest.add_rows(out)
            self.cover(
                min(row["charge_period_start"] for row in out), max(row["charge_period_end"] for row in out)
            )
        self.rows += len(out)
        self.progress = batch.progress
        return out

    def cover(self, first_start: datetime | None, last_end: datetime | None) -> None:
        """Widen the charge range the load covers."""
        if first_start is not None and (self.first_start is None or first_start < self.first_start):
            self.first_start = first_start
        if last_end is not None and (self.last_end is None or last_end > self.last_end):
            self.last_end = last_end

    def period(self) -> tuple[date, date] | None:
        """The charge days the load covers: its window when it was given one, else the rows' range."""
        return self.window or covered_days(self.first_start, self.last_end)

    def ledger_slice(self) -> LedgerSlice:
        origin, members = self.identity
        return LedgerSlice(
            self.source,
            frozenset(self.cells),
            self.window,
            origin,
            self.digest.hexdigest(),
            members,
            covered_days(self.first_start, self.last_end),
        )

    def progress_values(self) -> dict[str, Any]:
        return {
            "rows_read": self.progress.rows_read,
            "bytes_read": self.progress.bytes_read,
            "bytes_total": self.progress.bytes_total,
        }


class LedgerIngestor:
    """Writes sources into the ledger. Ingestions read and stage their rows concurrently; only the final
    publish (slice swap + rollup) is serialized."""

    def __init__(
        self,
        database: Database,
        *,
        normalizer: TagNormalizer,
        batch_size: int = 5000,
        progress_interval_s: float = 1.0,
        fast_path: bool = True,
    ) -> None:
        self.database = database
        self.normalizer = normalizer
        self.batch_size = batch_size
        self.progress_interval_s = progress_interval_s
        self.fast_path = fast_path
        #: ingestions written by the vectorized path, by the strict one, and fast attempts that fell back
        self.stats = {"fast": 0, "strict": 0, "fallback": 0}
        self._sqlite_writer = asyncio.Lock()

    async def run(
        self,
        ingestion_id: int,
        source: BillingSource,
        *,
        source_kind: str,
        window: tuple[date, date] | None,
        on_progress: ProgressCallback | None = None,
        origin: str | None = None,
    ) -> dict[str, Any]:
        """Ingest; return the succeeded record, or raise IngestionFailed after recording the failure.
        `origin` (default: derived from the record's options and filename, see slices.origin_of) and the
        rows' digest decide what it replaces. The record must exist (IngestionService or command_ingestion
        creates it with its owner); it is published only while it is still this run's (running, same owner)."""
        started = time.monotonic()
        state = _RunState(ingestion_id, source_kind, window, self.normalizer)
        async with self.database.engine.begin() as conn:
            await repo.update_ingestion(conn, ingestion_id, status="running", started_at=utcnow())
            record = await repo.get_ingestion(conn, ingestion_id)
        try:
            if record is None:
                raise RuntimeError(f"ingestion {ingestion_id} has no record")
            identity = self._identity(record, source_kind, origin)
            fresh = lambda: self._state(ingestion_id, source_kind, window, identity, record)  # noqa: E731
            state = fresh()
            fast = self._fast_inputs(source)
            if fast is not None:
                try:
                    result = await self._write_fast(state, fast, started, on_progress)
                    self.stats["fast"] += 1
                    INGESTIONS.labels(source_kind, "succeeded").inc()
                    return result
                except FastPathUnsupported as exc:
                    self.stats["fallback"] += 1
                    log.info("ingestion %s: fast path gave up (%s); strict parser", ingestion_id, exc)
                    for item in fast:
                        await asyncio.to_thread(item.rewind)
                    state = fresh()
            self.stats["strict"] += 1
            result = await self._write(state, source, started, on_progress)
            INGESTIONS.labels(source_kind, "succeeded").inc()
            return result
        except RunSuperseded as exc:  # the record is someone else's now: leave it as it is
            log.warning("ingestion %s: %s", ingestion_id, exc)
            raise IngestionFailed(ingestion_id, [{"message": str(exc)}]) from None
        except SourceRowError as exc:
            errors = [row_error_json(exc)]
            await self._record_failure(state, errors, started)
            raise IngestionFailed(ingestion_id, errors, exc) from None
        except (asyncio.CancelledError, KeyboardInterrupt):
            await asyncio.shield(
                self._record_failure(state, [{"message": "interrupted: the process stopped"}], started)
            )
            raise
        except Exception as exc:
            log.exception("ingestion %s failed", ingestion_id)
            errors = [{"message": safe_message(exc)}]
            await self._record_failure(state, errors, started)
            raise IngestionFailed(ingestion_id, errors, cause=exc) from exc

    def _state(
        self,
        ingestion_id: int,
        source_kind: str,
        window: tuple[date, date] | None,
        identity: tuple[str, tuple[str, ...]],
        record: dict[str, Any],
    ) -> _RunState:
        state = _RunState(ingestion_id, source_kind, window, self.normalizer, identity)
        state.owner = record.get("owner")
        return state

    @staticmethod
    def _identity(
        record: dict[str, Any], source_kind: str, origin: str | None
    ) -> tuple[str, tuple[str, ...]]:
        """(origin, member files) of the ingestion: given, or derived from its record."""
        options = record.get("options") or {}
        if origin is None:
            origin = origin_of(source_kind, options, record.get("filename"))
        return origin, members_of(options, origin)

    async def _write(
        self, state: _RunState, source: BillingSource, started: float, on_progress: ProgressCallback | None
    ) -> dict[str, Any]:
        ingestion_id = state.ingestion_id
        last_saved = time.monotonic()
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            writer = repo.LedgerWriter(conn, ingestion_id)
            try:
                async with conn.begin():
                    await writer.start()
                    async with contextlib.aclosing(batches_in_thread(source, self.batch_size)) as batches:
                        async for batch in batches:
                            await writer.write(state.accept(batch))
                            if on_progress is not None:
                                on_progress(state.rows, state.progress)
                            if (
                                self.database.dialect == "postgresql"
                                and time.monotonic() - last_saved >= self.progress_interval_s
                            ):
                                await self._save_progress(ingestion_id, state)
                                last_saved = time.monotonic()
                    async with self._publishing():
                        return await self._publish(conn, writer, state, started)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(writer.discard())

    def _fast_inputs(self, source: BillingSource) -> list[FastInput] | None:
        """The files to read with the vectorized path: FOCUS files on PostgreSQL (SQLite keeps the strict one)."""
        if not self.fast_path or self.database.dialect != "postgresql":
            return None
        return fast_path_inputs(source)

    async def _write_fast(
        self, state: _RunState, fast: list[FastInput], started: float, on_progress: ProgressCallback | None
    ) -> dict[str, Any]:
        """pyarrow reads and converts the files in a worker thread; their CSV chunks stream into one COPY;
        totals and slice cells come back from the rollup. FastPathUnsupported: nothing was kept."""
        import asyncpg

        rollup = ArrowRollup(state.ingestion_id)
        readers = [
            FocusArrowReader(
                item.target,
                filename=item.filename,
                ingestion_id=state.ingestion_id,
                source_kind=state.source,
                normalizer=self.normalizer,
                window=state.window,
                on_table=rollup.add,
                digest=state.digest,
            )
            for item in fast
        ]
        last_saved = time.monotonic()

        def all_chunks() -> Iterator[Any]:
            rows = read = 0
            for reader in readers:
                for chunk in reader.chunks():
                    chunk.progress.rows_read += rows
                    chunk.progress.bytes_read += read
                    if len(readers) > 1:
                        chunk.progress.bytes_total = None
                    yield chunk
                rows, read = rows + reader.progress.rows_read, read + reader.progress.bytes_read

        async def data() -> AsyncIterator[bytes]:
            nonlocal last_saved
            async with contextlib.aclosing(iterate_in_thread(all_chunks())) as chunks:
                async for chunk in chunks:
                    state.rows += chunk.rows
                    state.progress = chunk.progress
                    if on_progress is not None:
                        on_progress(state.rows, state.progress)
                    if time.monotonic() - last_saved >= self.progress_interval_s:
                        await self._save_progress(state.ingestion_id, state)
                        last_saved = time.monotonic()
                    if chunk.rows:
                        yield chunk.data

        with contextlib.closing(rollup):  # its spill file
            async with self.database.engine.connect() as conn, conn.begin():
                await fast_copy.open_transaction(conn)
                try:
                    copied = await fast_copy.copy_csv(conn, data())
                except asyncpg.exceptions.DataError as exc:  # e.g. a number beyond NUMERIC(30,12)
                    raise FastPathUnsupported(f"PostgreSQL refused a value: {safe_message(exc)}") from None
                if copied != state.rows:
                    raise FastPathUnsupported(f"COPY wrote {copied} rows, the reader made {state.rows}")
                if rollup.failed is None:
                    rows_csv = await asyncio.to_thread(rollup.finish)
                    await fast_copy.copy_rollup(conn, rows_csv, consolidate=rollup.spilled)
                else:  # a value beyond the exact Arrow decimals: PostgreSQL sums what it stored
                    log.info("ingestion %s: rollup in SQL (%s)", state.ingestion_id, rollup.failed)
                    await repo.build_rollup(conn, state.ingestion_id)  # reads this ingestion's rows only
                totals, state.cells, _rows = await fast_copy.rollup_summary(conn, state.ingestion_id)
                file_totals: dict[str, Decimal] = {}
                for reader in readers:
                    for currency, total in reader.totals.items():
                        file_totals[currency] = exact_sum(file_totals.get(currency, Decimal(0)), total)
                    state.cover(*reader.charge_range)
                if set(totals) != set(file_totals):
                    raise RuntimeError("the rollup's currencies differ from the files'")
                # the files' exact totals (the ledger's NUMERIC(30,12) rounding would change digits past 12)
                state.totals = {c: Decimal(fast_copy.total_text(t)) for c, t in file_totals.items()}
                log.info("ingestion %s: %s rows through the fast path", state.ingestion_id, copied)
                return await self._publish(conn, None, state, started)

    def _publishing(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """SQLite has one writer per database: this process's ingestions publish one at a time (PostgreSQL
        ingestions serialize on an advisory lock inside the transaction instead)."""
        return self._sqlite_writer if self.database.dialect == "sqlite" else contextlib.nullcontext()

    async def _publish(
        self, conn: AsyncConnection, writer: repo.LedgerWriter | None, state: _RunState, started: float
    ) -> dict[str, Any]:
        """Make the rows the ledger's: replace the slice, add the rollup, record success (same transaction).
        writer None: the fast path, which already built the rollup (it only reads this ingestion's rows)."""
        ingestion_id = state.ingestion_id
        if not await repo.hold_running(conn, ingestion_id, state.owner):
            raise RunSuperseded(
                f"ingestion {ingestion_id} was marked finished by another process while it ran; "
                "nothing was published"
            )
        if writer is not None:
            await writer.publish()
        await repo.lock_ledger(conn)
        ledger_slice = state.ledger_slice()
        replaced = await repo.replace_slice(conn, ingestion_id, ledger_slice)
        if writer is not None:
            await repo.build_rollup(conn, ingestion_id)
        period = state.period()
        await repo.update_ingestion(
            conn,
            ingestion_id,
            status="succeeded",
            period_start=period[0] if period else None,
            period_end=period[1] if period else None,
            row_count=state.rows,
            replaced_rows=replaced,
            totals={currency: format(total, "f") for currency, total in sorted(state.totals.items())},
            slice=ledger_slice.to_json(),
            errors=[],
            duration_ms=int((time.monotonic() - started) * 1000),
            finished_at=utcnow(),
            **state.progress_values(),
        )
        record = await repo.get_ingestion(conn, ingestion_id)
        assert record is not None
        return record

    async def _save_progress(self, ingestion_id: int, state: _RunState) -> None:
        """Progress for readers in other processes (a separate short transaction; PostgreSQL only, since
        SQLite's single writer is busy with the ingestion itself)."""
        try:
            async with self.database.engine.begin() as conn:
                await repo.update_ingestion(conn, ingestion_id, **state.progress_values())
        except Exception:  # progress is best effort; the ingestion itself goes on
            log.warning("could not save progress of ingestion %s", ingestion_id, exc_info=True)

    async def _record_failure(self, state: _RunState, errors: list[dict[str, Any]], started: float) -> None:
        INGESTIONS.labels(state.source, "failed").inc()
        async with self.database.engine.begin() as conn:
            await repo.update_ingestion(
                conn,
                state.ingestion_id,
                status="failed",
                errors=errors,
                row_count=0,
                totals={},
                duration_ms=int((time.monotonic() - started) * 1000),
                finished_at=utcnow(),
                **state.progress_values(),
            )
