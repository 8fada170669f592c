"""The contract every billing source adapter meets: batches of typed ledger rows, progress, row errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

DEFAULT_BATCH_SIZE = 5000


class SourceRowError(Exception):
    """A row (or the header, line 1) that cannot be ingested; the ingestion must stop and keep nothing.

    line is 1-based in the file with the header as line 1 (for Parquet and API sources: the record's
    ordinal + 1, so the first data record is line 2 everywhere); column is the source's column name.
    """

    def __init__(self, file: str, line: int, column: str, message: str) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        super().__init__(f"{file}:{line}: column {column}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.line, self.column, self.message))


@dataclass
class SourceProgress:
    """How far a source has read: rows emitted, bytes consumed (compressed bytes for .gz), total if known."""

    rows_read: int = 0
    bytes_read: int = 0
    bytes_total: int | None = None


@dataclass
class SourceBatch:
    """Rows keyed by ledger column names (every column present), values typed; progress after this batch."""

    rows: list[dict[str, Any]]
    progress: SourceProgress = field(default_factory=SourceProgress)


@runtime_checkable
class BillingSource(Protocol):
    """A synchronous, streaming producer of ledger rows (run it in a thread from async code)."""

    name: str

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        """Yield batches of at most batch_size rows; raise SourceRowError on a row that cannot be parsed."""
        ...


def snapshot(progress: SourceProgress) -> SourceProgress:
    """A copy of progress, so a batch keeps the numbers it was emitted with."""
    return SourceProgress(progress.rows_read, progress.bytes_read, progress.bytes_total)
