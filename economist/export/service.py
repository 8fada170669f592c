"""The FOCUS export: ledger rows of a window streamed out as FOCUS 1.2 CSV (batch by batch) or Parquet (row
groups written to a temporary file by a worker thread, then streamed in chunks)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from economist.costs.params import Filter
from economist.export import focus_format
from economist.export import repository as repo
from economist.ledger.tables import prepare_connection
from oco.db import Database

ExportFormat = Literal["csv", "parquet"]
BATCH_ROWS = 10_000  # rows read from the cursor at a time (one Parquet row group each)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportQuery:
    """Which ledger rows to export: charged in [start, end), matching the filters."""

    start: date
    end: date
    filters: tuple[Filter, ...] = ()
    format: ExportFormat = "csv"


class ExportService:
    """Streams the ledger as FOCUS files."""

    def __init__(self, database: Database, *, batch_rows: int = BATCH_ROWS) -> None:
        self.database = database
        self.batch_rows = batch_rows

    def media_type(self, query: ExportQuery) -> str:
        return "text/csv; charset=utf-8" if query.format == "csv" else "application/vnd.apache.parquet"

    def file_name(self, query: ExportQuery) -> str:
        return f"focus-{query.start.isoformat()}-{query.end.isoformat()}.{query.format}"

    def stream(self, query: ExportQuery) -> AsyncIterator[bytes]:
        """The file's bytes, chunk by chunk."""
        return self._csv(query) if query.format == "csv" else self._parquet(query)

    async def _batches(self, query: ExportQuery) -> AsyncIterator[Sequence[dict[str, Any]]]:
        statement = repo.ledger_rows_statement(query.start, query.end, query.filters)
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            async for batch in repo.stream_ledger_rows(conn, statement, self.batch_rows):
                yield batch

    async def _csv(self, query: ExportQuery) -> AsyncIterator[bytes]:
        yield focus_format.csv_header()
        async for batch in self._batches(query):
            yield await asyncio.to_thread(focus_format.csv_rows, batch)

    async def _parquet(self, query: ExportQuery) -> AsyncIterator[bytes]:
        import pyarrow.parquet as pq

        with tempfile.TemporaryFile(prefix="oco-focus-") as spool:
            writer = pq.ParquetWriter(spool, focus_format.PARQUET_SCHEMA, compression="zstd")
            try:
                async for batch in self._batches(query):
                    table = await asyncio.to_thread(focus_format.arrow_batch, batch)
                    await asyncio.to_thread(writer.write_batch, table)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(writer.close)
            await asyncio.to_thread(spool.seek, 0)
            while chunk := await asyncio.to_thread(spool.read, _CHUNK):
                yield chunk
