"""FOCUS 1.2 rows out of ledger rows: the column names and types, CSV text (money as exact decimal text,
times as ISO 8601 UTC, Tags as a JSON object) and Parquet (money as decimal128, times as UTC timestamps)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson
import pyarrow as pa

from economist.ledger.columns import LEDGER_COLUMNS, LedgerColumn

FOCUS_VERSION = "1.2"
#: the FOCUS columns written, in order (the ledger's columns, by their FOCUS 1.2 names)
FOCUS_COLUMNS: tuple[str, ...] = tuple(c.focus_name for c in LEDGER_COLUMNS)
MONEY_TYPE = pa.decimal128(38, 12)  # the ledger keeps 12 decimals (NUMERIC(30,12))
QUANTITY_TYPE = pa.decimal128(38, 18)
_SCALES = {"money": Decimal(1).scaleb(-12), "quantity": Decimal(1).scaleb(-18)}
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")


def _arrow_type(column: LedgerColumn) -> pa.DataType:
    if column.kind == "money":
        return MONEY_TYPE
    if column.kind == "quantity":
        return QUANTITY_TYPE
    if column.kind == "datetime":
        return TIMESTAMP_TYPE
    return pa.string()


#: the Parquet schema of the export
PARQUET_SCHEMA = pa.schema(
    [pa.field(c.focus_name, _arrow_type(c), nullable=not c.required) for c in LEDGER_COLUMNS],
    metadata={"focus_version": FOCUS_VERSION},
)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _tags_json(tags: Any) -> str:
    return orjson.dumps(tags or {}, option=orjson.OPT_SORT_KEYS).decode()


def csv_text(value: Any, column: LedgerColumn) -> str:
    """One value as FOCUS CSV text ('' for null)."""
    if column.kind == "json":
        return _tags_json(value)
    if value is None:
        return ""
    if column.kind in ("money", "quantity"):
        return _decimal_text(Decimal(value))
    if column.kind == "datetime":
        return _utc(value).isoformat().replace("+00:00", "Z")
    return str(value)


def csv_header() -> bytes:
    return _csv_line(list(FOCUS_COLUMNS))


def csv_rows(rows: Sequence[dict[str, Any]]) -> bytes:
    """Ledger rows as FOCUS CSV lines."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([csv_text(row.get(c.name), c) for c in LEDGER_COLUMNS])
    return out.getvalue().encode()


def _csv_line(values: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode()


def _arrow_value(value: Any, column: LedgerColumn) -> Any:
    if column.kind == "json":
        return _tags_json(value)
    if value is None:
        return None
    if column.kind in ("money", "quantity"):
        # PostgreSQL holds the column's scale already; SQLite keeps the source's digits
        return Decimal(value).quantize(_SCALES[column.kind], rounding=ROUND_HALF_EVEN)
    if column.kind == "datetime":
        return _utc(value)
    return str(value)


def arrow_batch(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    """Ledger rows as a record batch of PARQUET_SCHEMA."""
    arrays = [
        pa.array([_arrow_value(row.get(c.name), c) for row in rows], type=field.type)
        for c, field in zip(LEDGER_COLUMNS, PARQUET_SCHEMA, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=PARQUET_SCHEMA)
