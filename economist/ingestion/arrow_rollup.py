"""The daily rollup (cloud_costs_daily rows) of a bulk load, aggregated from the Arrow tables on their way to
COPY, in the reader's worker thread: PostgreSQL then stores a few thousand rollup rows instead of re-reading
the million it has just written. The result equals repository.build_rollup() (same keys, the same sums of
the values as NUMERIC(30,12) stores them); when a value is outside what this exact decimal arithmetic covers,
the rollup gives up and the caller builds it in SQL.

Memory is bounded whatever the file: once the merged groups pass SPILL_GROUPS they are written to a temporary
file and the rollup starts afresh; a key may then appear on several rows, which the caller sums once more in
SQL over those few rows (fast_copy.copy_rollup).
"""

from __future__ import annotations

import tempfile
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from economist.ledger.tables import cloud_costs_daily
from economist.sources.focus_arrow import exact_decimals

#: the stored precision of money (NUMERIC(30,12)); the source text is read exactly first, then rounded as
#: PostgreSQL rounds on input (half away from zero)
_STORED = pa.decimal128(38, 12)
#: keys as fixed-width values, not text: the timestamps are ISO 8601 with an offset (to_datetime's output), and
#: a UTC timestamp's date is the UTC day, like (ts AT TIME ZONE 'UTC')::date
_UTC = pa.timestamp("us", "UTC")
_MONEY = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")
#: cloud_costs_daily's columns: ingestion_id, the grouping keys, the sums (the order of the CSV written here)
ROLLUP_COLUMNS: tuple[str, ...] = tuple(c.name for c in cloud_costs_daily.columns)
#: the columns that are sums (the rest are the grouping key)
ROLLUP_SUMS: tuple[str, ...] = (*_MONEY, "row_count")
_KEYS: tuple[str, ...] = tuple(c for c in ROLLUP_COLUMNS if c != "ingestion_id" and c not in ROLLUP_SUMS)
COMBINE_EVERY = 16  # partial aggregates kept before they are merged
SPILL_GROUPS = 20_000  # merged groups kept in memory (~3 MB) before they go to the spill file
_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=8192)


def _stored_money(column: pa.Array) -> pa.Array:
    """Money text as NUMERIC(30,12) keeps it: exact decimal, rounded half away from zero to 12 places."""
    exact = exact_decimals(column)
    return pc.cast(pc.round(exact, ndigits=12, round_mode="half_towards_infinity"), _STORED)


class ArrowRollup:
    """Accumulates one ingestion's rollup from the ledger tables (COPY_COLUMNS, text) that are COPYed.

    `failed` says why it gave up (the caller then builds the rollup in SQL); add() never raises. `spilled`:
    rows went to the spill file, so a key may repeat in finish()'s rows. close() removes the spill file."""

    def __init__(self, ingestion_id: int) -> None:
        self.ingestion_id = ingestion_id
        self.failed: str | None = None
        self.spilled = False
        self._parts: list[pa.Table] = []
        self._file: IO[bytes] | None = None
        self._closed = False

    def add(self, table: pa.Table) -> None:
        if self.failed is not None or self._closed or table.num_rows == 0:
            return
        try:
            self._parts.append(self._aggregate(self._frame(table)))
            if len(self._parts) >= COMBINE_EVERY:
                merged = self._merge(self._parts)
                self._parts = [merged]
                if merged.num_rows >= SPILL_GROUPS:
                    self._write(merged)
                    self.spilled, self._parts = True, []
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError, OSError) as exc:
            self.failed = f"{type(exc).__name__}: {str(exc)[:200]}"
            self._parts = []

    def finish(self) -> IO[bytes]:
        """A temporary file of the rollup rows as CSV in ROLLUP_COLUMNS order, positioned at its start (no
        header; empty when nothing was added). It is closed (and gone) with close()."""
        if self.failed is not None:
            raise RuntimeError(f"the rollup gave up: {self.failed}")
        if self._parts:
            self._write(self._merge(self._parts))
            self._parts = []
        out = self._spill_file()
        out.flush()
        out.seek(0)
        return out

    def close(self) -> None:
        """Drop what is held; a table still arriving from a reading thread after this is ignored."""
        self._closed = True
        self._parts = []
        if self._file is not None:
            self._file.close()
            self._file = None

    def _spill_file(self) -> IO[bytes]:
        if self._closed:
            raise OSError("the rollup is closed")
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="oco-rollup-")  # noqa: SIM115 - closed by close()
        return self._file

    def _write(self, merged: pa.Table) -> None:
        rows = merged.num_rows
        columns = {"ingestion_id": pa.repeat(pa.scalar(str(self.ingestion_id)), rows)}
        for name in (*_KEYS, *_MONEY, "row_count"):
            columns[name] = pc.cast(merged.column(name), pa.string())
        table = pa.table([columns[n] for n in ROLLUP_COLUMNS], names=list(ROLLUP_COLUMNS))
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, write_options=_WRITE_OPTIONS)
        self._spill_file().write(sink.getvalue())

    def _frame(self, table: pa.Table) -> pa.Table:
        """The rollup keys and stored money of each row (COALESCEs as in build_rollup)."""
        billing_account = table.column("billing_account_id")
        columns = {
            "day": pc.cast(pc.cast(table.column("charge_period_start"), _UTC), pa.date32()),
            "billing_period_start": pc.cast(table.column("billing_period_start"), _UTC),
            "billing_account_id": pc.fill_null(billing_account, ""),
            "provider_name": table.column("provider_name"),
            "service_name": table.column("service_name"),
            "account_id": pc.coalesce(table.column("sub_account_id"), billing_account),
            "region_id": table.column("region_id"),
            "billing_currency": table.column("billing_currency"),
            "charge_category": table.column("charge_category"),
        }
        for name in _MONEY:
            columns[name] = _stored_money(table.column(name))
        return pa.table(columns)

    @staticmethod
    def _aggregate(frame: pa.Table) -> pa.Table:
        grouped = frame.group_by(list(_KEYS), use_threads=False).aggregate(
            [(name, "sum") for name in _MONEY] + [([], "count_all")]
        )
        return grouped.rename_columns([_plain_name(c) for c in grouped.column_names])

    @staticmethod
    def _merge(parts: list[pa.Table]) -> pa.Table:
        table = pa.concat_tables(parts)
        grouped = table.group_by(list(_KEYS), use_threads=False).aggregate(
            [(name, "sum") for name in (*_MONEY, "row_count")]
        )
        return grouped.rename_columns([_plain_name(c) for c in grouped.column_names])


def _plain_name(aggregate_column: str) -> str:
    """pyarrow's `billed_cost_sum` / `count_all` back to the rollup's column names."""
    return "row_count" if aggregate_column == "count_all" else aggregate_column.removesuffix("_sum")
