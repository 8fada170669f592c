"""Vectorized FOCUS reading with pyarrow for bulk loads: a CSV / CSV.gz / Parquet file becomes COPY-ready CSV
chunks in ledger column order, with no Python object per row. It converts only what it can convert exactly as
the strict parser (economist.sources.focus) would; on anything else it raises FastPathUnsupported and the
caller re-reads the file with the strict parser, which names the bad line and column.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from economist.ledger.columns import COLUMNS_BY_NAME
from economist.ledger.identity import RowDigest
from economist.ledger.tables import INSERT_COLUMNS
from economist.ledger.tags import TagNormalizer
from economist.sources.base import SourceProgress
from economist.sources.focus import FocusSource, focus_plans
from economist.sources.limits import bounded
from economist.sources.limits import current as current_limits
from economist.sources.multi import MultiFileSource
from economist.sources.rows import FieldPlan
from economist.sources.tabular import _GZIP_MAGIC, _PARQUET_MAGIC, _CountingReader, display_name
from economist.sources.values import (
    _NULL_EXACT,
    CANONICAL_ENUMS,
    NULL_TEXTS,
    canonical_enum,
    day_start,
    to_datetime,
    to_tags,
)
from oco.money import exact_sum

#: every character str.strip() removes, so pyarrow trims exactly like the strict parser
PY_WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
#: what Decimal() and PostgreSQL's numeric input both read the same way (ASCII digits only)
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_CSV_BLOCK = 1 << 20  # arrow holds tens of times the block size while parsing: keep RSS flat
_CSV_THREADS = False  # the worker thread already overlaps the COPY; 2-core hosts
_PARQUET_ROWS = 32_768
_NULL_EXACT_SET = pa.array(sorted(_NULL_EXACT), pa.string())
_NULL_LOWER_SET = pa.array(sorted(NULL_TEXTS), pa.string())
_EXACT = pa.decimal128(38, 18)
#: number text that pyarrow's cast to _EXACT converts exactly or refuses (ArrowInvalid): pyarrow 26 turns text
#: with a scale of 57 or more ('1.' + 57 zeros, '5e-57') into 0 instead. Up to 40 characters and an exponent
#: within +-9 (or down to -18) keep the scale under 57; other text takes the exact Python/SQL routes.
_CASTABLE_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE](\+?0?[0-9]|-0?[0-9]|-1[0-8]))?$"
_CASTABLE_LENGTH = 40
_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=8192)


class FastPathUnsupported(Exception):
    """The file holds something the vectorized path does not convert exactly; use the strict parser."""


@dataclass
class CopyChunk:
    """Ledger rows as CSV text in COPY_COLUMNS order, and how far the source has been read."""

    data: bytes
    rows: int
    progress: SourceProgress


#: the columns every chunk carries, in order (all of cloud_costs but its generated id)
COPY_COLUMNS: tuple[str, ...] = INSERT_COLUMNS


def _unsupported(why: str) -> FastPathUnsupported:
    return FastPathUnsupported(why)


def _longest_field(batch: Any) -> int:
    """The byte length of the longest value in a batch of string columns (0 when empty)."""
    longest = 0
    for column in batch.columns:
        value = pc.max(pc.binary_length(column)).as_py()
        longest = max(longest, value or 0)
    return longest


# -- column conversions (null-aware: CSV columns have no nulls, Parquet columns may) --------------------------


def _text(column: pa.Array) -> pa.Array:
    """to_str(): stripped text, None for the null spellings."""
    trimmed = pc.utf8_trim(column, characters=PY_WHITESPACE)
    is_null = pc.is_in(trimmed, value_set=_NULL_EXACT_SET)
    return pc.if_else(is_null, pa.scalar(None, pa.string()), trimmed)


def _by_value(column: pa.Array, convert: Callable[[Any], Any], kind: pa.DataType = pa.string()) -> pa.Array:
    """Apply a Python conversion once per distinct value (billing columns repeat a lot)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    mapped = pa.array([convert(v) for v in encoded.dictionary.to_pylist()], kind)
    return pc.take(mapped, encoded.indices)


def _enum(name: str, column: pa.Array) -> pa.Array:
    return _by_value(_text(column), lambda v: canonical_enum(name, v))


def _number(name: str, column: pa.Array) -> pa.Array:
    """to_decimal() for text that both Decimal and PostgreSQL read identically; anything else is unsupported."""
    kind = column.type
    if pa.types.is_floating(kind):
        if not pc.all(pc.fill_null(pc.is_finite(column), True)).as_py():
            raise _unsupported(f"{name}: a non-finite float")
        return pc.cast(column, pa.string())
    if pa.types.is_integer(kind) or pa.types.is_decimal(kind):
        return pc.cast(column, pa.string())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise _unsupported(f"{name}: type {kind}")
    trimmed = pc.utf8_trim(column, characters=PY_WHITESPACE)
    is_null = pc.fill_null(pc.is_in(pc.utf8_lower(trimmed), value_set=_NULL_LOWER_SET), True)
    valid = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False)
    if not pc.all(pc.or_(is_null, valid)).as_py():
        raise _unsupported(f"{name}: a value that is not a plain number")
    return pc.if_else(is_null, pa.scalar(None, pa.string()), pc.cast(trimmed, pa.string()))


def exact_decimals(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Number text (as _number leaves it) as decimal128(38, 18), exactly; ArrowInvalid when a value is outside
    what this exact arithmetic covers (more than 18 decimals, too long, a large exponent)."""
    castable = pc.and_(
        pc.less_equal(pc.utf8_length(column), _CASTABLE_LENGTH),
        pc.match_substring_regex(column, _CASTABLE_NUMBER),
    )
    if not pc.all(pc.fill_null(castable, True)).as_py():
        raise pa.ArrowInvalid("a number beyond the exact decimal cast")
    return pc.cast(column, _EXACT)


def _iso(value: Any) -> str | None:
    try:
        moment = to_datetime(value)
    except ValueError:
        raise _unsupported("a date/time the strict parser must report") from None
    return None if moment is None else moment.isoformat()


def _datetime(name: str, column: pa.Array) -> pa.Array:
    """to_datetime() once per distinct value, written as ISO 8601 with its UTC offset."""
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        try:
            column = pc.cast(column, pa.timestamp("us", kind.tz))
        except pa.ArrowInvalid:
            raise _unsupported(f"{name}: nanosecond timestamps") from None
    elif not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_date(kind)
    ):
        raise _unsupported(f"{name}: type {kind}")
    return _by_value(column, _iso)


class _TagConverter:
    """to_tags() + the ingestion's TagNormalizer once per distinct tags value: (tags JSON, normalized JSON)."""

    def __init__(self, normalizer: TagNormalizer) -> None:
        self.normalizer = normalizer
        self.memo: dict[Any, tuple[str, str]] = {}

    def pair(self, value: Any) -> tuple[str, str]:
        found = self.memo.get(value)
        if found is None:
            try:
                tags = to_tags(value)
            except ValueError:
                raise _unsupported("a tags value the strict parser must report") from None
            if len(self.memo) >= 50_000:
                self.memo.clear()
            found = self.memo[value] = (
                orjson.dumps(tags).decode(),
                orjson.dumps(self.normalizer.normalize(tags)).decode(),
            )
        return found

    def columns(self, column: pa.Array | None, rows: int) -> tuple[pa.Array, pa.Array]:
        if column is None:
            empty = self.pair(None)
            return _constant(empty[0], rows), _constant(empty[1], rows)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise _unsupported(f"tags of type {column.type}")
        encoded = pc.dictionary_encode(column)
        pairs = [self.pair(v) for v in encoded.dictionary.to_pylist()]
        indices = pc.fill_null(encoded.indices, len(pairs))
        none = self.pair(None)
        raw = pa.array([p[0] for p in pairs] + [none[0]], pa.string())
        normalized = pa.array([p[1] for p in pairs] + [none[1]], pa.string())
        return pc.take(raw, indices), pc.take(normalized, indices)


def _constant(value: str, rows: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), rows)


# -- the reader ------------------------------------------------------------------------------------------------


class FocusArrowReader:
    """One pass over a FOCUS file producing CopyChunk objects (run it in a worker thread).

    window: keep only rows whose ChargePeriodStart falls in [start, end), like the strict ingestion.
    on_table: called (in the reading thread) with each converted table, as text in COPY_COLUMNS, before it
    becomes a chunk (the ingestion builds its daily rollup from them).
    digest: where the kept rows' content identity accumulates (economist.ledger.identity; one is made if none
    is given), equal to the strict parser's for the same rows.
    """

    def __init__(
        self,
        source: Any,
        *,
        filename: str | None,
        ingestion_id: int,
        source_kind: str,
        normalizer: TagNormalizer,
        window: tuple[date, date] | None = None,
        on_table: Callable[[pa.Table], None] | None = None,
        digest: RowDigest | None = None,
    ) -> None:
        self.name = display_name(source, filename)
        self._source = source
        self._ingestion_id = str(ingestion_id)
        self._source_kind = source_kind
        self._tags = _TagConverter(normalizer)
        self._window = (day_start(window[0]), day_start(window[1])) if window else None
        self.progress = SourceProgress()
        self.format = "csv"
        self._on_table = on_table
        #: the content identity of the rows kept (economist.ledger.identity)
        self.digest = digest if digest is not None else RowDigest()
        #: exact BilledCost per BillingCurrency of the rows kept (the source's digits, before NUMERIC rounding)
        self.totals: dict[str, Decimal] = {}
        #: (earliest ChargePeriodStart, latest ChargePeriodEnd) of the rows kept, None before any row
        self.charge_range: tuple[datetime | None, datetime | None] = (None, None)

    def chunks(self) -> Iterator[CopyChunk]:
        with contextlib.ExitStack() as stack:
            stream = self._open(stack)
            magic = stream.peek(4)[:4]
            if magic.startswith(_PARQUET_MAGIC):
                yield from self._parquet_chunks(stack)
            else:
                yield from self._csv_chunks(stream, magic)
        if self.progress.bytes_total is not None:
            self.progress.bytes_read = self.progress.bytes_total

    def _open(self, stack: contextlib.ExitStack) -> io.BufferedReader:
        source = self._source
        if isinstance(source, str | os.PathLike):
            raw: IO[bytes] = stack.enter_context(open(source, "rb"))  # noqa: SIM115
            self.progress.bytes_total = os.fstat(raw.fileno()).st_size
            self._start = 0
        else:
            raw = source
            if not raw.seekable():
                raise _unsupported("a non-seekable stream cannot be re-read by the strict parser")
            start = self._start = raw.tell()
            self.progress.bytes_total = raw.seek(0, io.SEEK_END) - start
            raw.seek(start)
        self._raw = raw
        self._counter = _CountingReader(raw)
        return io.BufferedReader(self._counter, buffer_size=1 << 20)

    # -- CSV --

    def _csv_chunks(self, stream: io.BufferedReader, magic: bytes) -> Iterator[CopyChunk]:
        decompressed: IO[bytes] | gzip.GzipFile = stream
        if magic.startswith(_GZIP_MAGIC):
            self.format = "csv.gz"
            decompressed = gzip.GzipFile(fileobj=stream, mode="rb")
        binary = bounded(decompressed)  # a bomb stops at the bounds (the strict parser then says why)
        try:
            first = binary.readline()
            text = first.decode("utf-8-sig")
        except (OSError, EOFError, UnicodeDecodeError):
            raise _unsupported("unreadable header") from None
        if not text.strip() or text.count('"') % 2:
            raise _unsupported("an empty or multi-line header")
        header = [h.lstrip("\ufeff").strip() for h in next(csv.reader([text]))]
        plans = focus_plans(self.name, header)  # a missing required column: SourceRowError, line 1
        names = [f"c{i}" for i in range(len(header))]
        used = sorted({plan.index for plan in plans})
        try:
            reader = pacsv.open_csv(
                pa.PythonFile(binary, mode="r"),
                read_options=pacsv.ReadOptions(
                    column_names=names, block_size=_CSV_BLOCK, use_threads=_CSV_THREADS
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    include_columns=[names[i] for i in used],
                    column_types=dict.fromkeys((names[i] for i in used), pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            field_bound = current_limits().max_field_bytes
            for batch in reader:
                if batch.num_rows:
                    if _longest_field(batch) > field_bound:  # the strict parser reports where
                        raise _unsupported("a field past OCO_ECONOMIST_MAX_FIELD_BYTES")
                    yield self._chunk(plans, {i: batch.column(names[i]) for i in used}, batch.num_rows)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, EOFError) as exc:
            raise _unsupported(f"unreadable CSV data ({str(exc)[:120]})") from None

    # -- Parquet --

    def _parquet_chunks(self, stack: contextlib.ExitStack) -> Iterator[CopyChunk]:
        import pyarrow.parquet as pq

        self.format = "parquet"
        self._raw.seek(self._start)  # undo the peek at the magic bytes
        try:
            parquet = pq.ParquetFile(self._raw)
        except Exception:
            raise _unsupported("unreadable Parquet file") from None
        stack.callback(parquet.close)
        header = list(parquet.schema_arrow.names)
        plans = focus_plans(self.name, header)
        used = sorted({plan.index for plan in plans})
        total_rows = parquet.metadata.num_rows or 1
        done = 0
        try:
            for batch in parquet.iter_batches(batch_size=_PARQUET_ROWS, columns=[header[i] for i in used]):
                done += batch.num_rows
                if self.progress.bytes_total is not None:
                    self.progress.bytes_read = self.progress.bytes_total * done // total_rows
                if batch.num_rows:
                    columns = {i: batch.column(k) for k, i in enumerate(used)}
                    yield self._chunk(plans, columns, batch.num_rows, count_bytes=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise _unsupported(f"unreadable Parquet data ({str(exc)[:120]})") from None

    # -- one batch -> one chunk --

    def _chunk(
        self, plans: list[FieldPlan], columns: dict[int, pa.Array], rows: int, *, count_bytes: bool = True
    ) -> CopyChunk:
        out: dict[str, pa.Array] = {}
        tags_column: pa.Array | None = None
        for plan in plans:
            column = columns[plan.index]
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            if pa.types.is_null(column.type):
                column = pa.nulls(len(column), pa.string())
            kind = COLUMNS_BY_NAME[plan.ledger].kind
            if kind in ("money", "quantity"):
                value = _number(plan.source_column, column)
            elif kind == "datetime":
                value = _datetime(plan.source_column, column)
            elif kind == "json":
                tags_column = column
                continue
            else:
                if not (
                    pa.types.is_string(column.type)
                    or pa.types.is_large_string(column.type)
                    or pa.types.is_integer(column.type)
                ):
                    raise _unsupported(f"{plan.source_column}: type {column.type}")
                column = pc.cast(column, pa.string())
                value = _enum(plan.ledger, column) if plan.ledger in CANONICAL_ENUMS else _text(column)
                if plan.ledger == "billing_currency":  # like to_currency(): `usd` is USD
                    value = pc.utf8_upper(value)
            if plan.required and value.null_count:
                raise _unsupported(f"{plan.source_column}: a required value is missing")
            out[plan.ledger] = value
        out["tags"], out["tags_normalized"] = self._tags.columns(tags_column, rows)
        out["source"] = _constant(self._source_kind, rows)
        out["ingestion_id"] = _constant(self._ingestion_id, rows)
        table = pa.table({name: out.get(name, pa.nulls(rows, pa.string())) for name in COPY_COLUMNS})
        if self._window is not None:
            table = table.filter(self._in_window(table.column("charge_period_start")))
        self._add_totals(table)
        self._add_charge_range(table)
        self.digest.add_table(table)
        if self._on_table is not None:
            self._on_table(table)
        self.progress.rows_read += rows
        if count_bytes:
            self.progress.bytes_read = self._counter.count
        sink = pa.BufferOutputStream()
        if table.num_rows:
            pacsv.write_csv(table, sink, write_options=_WRITE_OPTIONS)
        return CopyChunk(
            sink.getvalue().to_pybytes(),
            table.num_rows,
            SourceProgress(self.progress.rows_read, self.progress.bytes_read, self.progress.bytes_total),
        )

    def _add_totals(self, table: pa.Table) -> None:
        costs, currencies = table.column("billed_cost"), table.column("billing_currency")
        try:  # decimal128 sums are exact; values with more than 18 decimals take the Python route
            grouped = (
                pa.table({"c": currencies, "v": exact_decimals(costs)})
                .group_by("c")
                .aggregate([("v", "sum")])
            )
            pairs = list(
                zip(grouped.column("c").to_pylist(), grouped.column("v_sum").to_pylist(), strict=True)
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pairs = [(c, Decimal(v)) for c, v in zip(currencies.to_pylist(), costs.to_pylist(), strict=True)]
        totals = self.totals
        for currency, total in pairs:
            totals[currency] = exact_sum(totals.get(currency, Decimal(0)), total)

    def _add_charge_range(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        starts = [to_datetime(v) for v in pc.unique(table.column("charge_period_start")).to_pylist()]
        ends = [to_datetime(v) for v in pc.unique(table.column("charge_period_end")).to_pylist()]
        first = min((s for s in starts if s is not None), default=None)
        last = max((e for e in ends if e is not None), default=None)
        low, high = self.charge_range
        self.charge_range = (
            first if low is None or (first is not None and first < low) else low,
            last if high is None or (last is not None and last > high) else high,
        )

    def _in_window(self, starts: pa.ChunkedArray) -> pa.Array:
        assert self._window is not None
        low, high = self._window

        def inside(text: str | None) -> bool:
            moment = to_datetime(text)
            return moment is not None and low <= moment < high

        return _by_value(starts, inside, pa.bool_())


@dataclass
class FastInput:
    """What FocusArrowReader reads for a FocusSource, and how to put the source back for the strict parser."""

    target: Any
    filename: str | None
    rewind: Callable[[], object]  # its result is ignored


def fast_path_input(source: Any) -> FastInput | None:
    """The file behind a FocusSource when FocusArrowReader can read it (a path or a seekable file), else None."""
    if not isinstance(source, FocusSource):
        return None
    target = source._source  # noqa: SLF001 - same package
    filename = source._filename  # noqa: SLF001
    if isinstance(target, str | os.PathLike):
        return FastInput(target, filename, lambda: None)
    seekable = getattr(target, "seekable", None)
    if seekable is None or not seekable():
        return None
    start = target.tell()
    return FastInput(target, filename, lambda: target.seek(start) and None)


def fast_path_inputs(source: Any) -> list[FastInput] | None:
    """The files behind a FocusSource, or behind every part of a MultiFileSource of them; None when one of
    them cannot be read by FocusArrowReader."""
    parts = source.parts if isinstance(source, MultiFileSource) else [source]
    found = [fast_path_input(part) for part in parts]
    if not found or any(item is None for item in found):
        return None
    return [item for item in found if item is not None]
