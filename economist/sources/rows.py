"""Turning a file's records into ledger rows: header resolution, per-kind converters, and batching."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from economist.ledger.columns import COLUMNS_BY_NAME, LedgerColumn
from economist.sources.base import SourceBatch, SourceProgress, SourceRowError, snapshot
from economist.sources.values import (
    CANONICAL_ENUMS,
    canonical_enum,
    to_currency,
    to_datetime,
    to_decimal,
    to_str,
    to_tags,
)

Converter = Callable[[Any], Any]

_FOLD = re.compile(r"[\s_\-./]+")


def fold_name(name: str) -> str:
    """A column name folded for matching: case, whitespace, '_', '-', '.', '/' ignored."""
    return _FOLD.sub("", name.lstrip("\ufeff")).lower()


def _enum_converter(column: str) -> Converter:
    def convert(value: Any) -> str | None:
        return canonical_enum(column, to_str(value))

    return convert


def converter_for(column: LedgerColumn) -> Converter:
    """The parser for a ledger column's kind (enum columns also fold to the canonical spelling)."""
    if column.kind in ("money", "quantity"):
        return to_decimal
    if column.kind == "datetime":
        return to_datetime
    if column.kind == "json":
        return to_tags
    if column.name == "billing_currency":
        return to_currency
    if column.name in CANONICAL_ENUMS:
        return _enum_converter(column.name)
    return to_str


@dataclass(frozen=True)
class FieldPlan:
    """Where one ledger column comes from in a file: the record index and the source's column name."""

    index: int
    ledger: str
    source_column: str
    convert: Converter
    required: bool


def convert_record(
    plans: Iterable[FieldPlan], values: list[Any], file: str, line: int, row: dict[str, Any]
) -> dict[str, Any]:
    """Fill row from values following plans; a bad or missing required value raises SourceRowError."""
    for plan in plans:
        try:
            value = plan.convert(values[plan.index])
        except ValueError as exc:
            raise SourceRowError(file, line, plan.source_column, str(exc)) from None
        if value is None and plan.required:
            raise SourceRowError(file, line, plan.source_column, "a value is required")
        row[plan.ledger] = value if value is not None or plan.ledger != "tags" else {}
    return row


def plan_for(index: int, ledger: str, source_column: str, required: bool | None = None) -> FieldPlan:
    """A FieldPlan for a ledger column with its default converter."""
    column = COLUMNS_BY_NAME[ledger]
    return FieldPlan(
        index, ledger, source_column, converter_for(column), column.required if required is None else required
    )


def batch_rows(
    rows: Iterator[dict[str, Any]], progress: SourceProgress, batch_size: int
) -> Iterator[SourceBatch]:
    """Group rows into SourceBatch objects of at most batch_size rows, counting rows in progress."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    buffer: list[dict[str, Any]] = []
    for row in rows:
        buffer.append(row)
        progress.rows_read += 1
        if len(buffer) >= batch_size:
            yield SourceBatch(buffer, snapshot(progress))
            buffer = []
    if buffer:
        yield SourceBatch(buffer, snapshot(progress))


class RecordView:
    """Typed access by (normalized) column name to one record; errors carry the file, line and the
    column name as the file spells it. Used by adapters whose mapping has logic (CUR, Azure exports)."""

    __slots__ = ("_index", "_spelled", "file", "line", "values")

    def __init__(self, index: dict[str, int], spelled: dict[str, str], file: str) -> None:
        self._index = index
        self._spelled = spelled
        self.file = file
        self.line = 0
        self.values: list[Any] = []

    def has(self, name: str) -> bool:
        return name in self._index

    def raw(self, name: str) -> Any:
        index = self._index.get(name)
        return None if index is None else self.values[index]

    def error(self, name: str, message: str) -> SourceRowError:
        return SourceRowError(self.file, self.line, self._spelled.get(name, name), message)

    def _convert(self, name: str, convert: Converter, required: bool) -> Any:
        try:
            value = convert(self.raw(name))
        except ValueError as exc:
            raise self.error(name, str(exc)) from None
        if value is None and required:
            raise self.error(name, "a value is required")
        return value

    def money(self, name: str, *, required: bool = False) -> Any:
        return self._convert(name, to_decimal, required)

    def when(self, name: str, *, required: bool = False) -> Any:
        return self._convert(name, to_datetime, required)

    def text(self, name: str, *, required: bool = False) -> str | None:
        return self._convert(name, to_str, required)

    def currency(self, name: str, *, required: bool = False) -> str | None:
        return self._convert(name, to_currency, required)

    def tags(self, name: str) -> dict[str, str]:
        return self._convert(name, to_tags, False) or {}

    def first_text(self, *names: str) -> str | None:
        for name in names:
            value = self.text(name)
            if value is not None:
                return value
        return None


def index_header(header: list[str], normalize: Callable[[str], str]) -> tuple[dict[str, int], dict[str, str]]:
    """(normalized name -> first index, normalized name -> the header's spelling)."""
    index: dict[str, int] = {}
    spelled: dict[str, str] = {}
    for position, raw in enumerate(header):
        key = normalize(raw)
        if key not in index:
            index[key] = position
            spelled[key] = raw
    return index, spelled
