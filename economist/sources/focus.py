"""FOCUS 1.0-1.3 files (and 0.5/1.0-preview names) as ledger rows: CSV, CSV.gz or Parquet, local or upload.

Tolerant: NULL/empty -> None, enum case folded to the spec, numbers as quoted strings or in scientific
notation, a BOM, header case/whitespace differences, unknown and `x_` columns ignored. Strict: a missing
required column (line 1) or an unparsable money/quantity/date/tags value stops with file, line and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from economist.ledger.columns import FOCUS_ALIASES, FOCUS_TO_LEDGER, LEDGER_COLUMNS, empty_row
from economist.sources.base import DEFAULT_BATCH_SIZE, SourceBatch, SourceRowError
from economist.sources.rows import FieldPlan, batch_rows, convert_record, fold_name, plan_for
from economist.sources.s3files import S3FileSource
from economist.sources.tabular import PathOrFile, TabularReader

_CANONICAL = {fold_name(focus): focus for focus in FOCUS_TO_LEDGER}
_ALIASES = {fold_name(alias): focus for alias, focus in FOCUS_ALIASES.items()}
_SIGNATURE = {fold_name(n) for n in ("BilledCost", "ChargePeriodStart", "BillingPeriodStart")}


def looks_like_focus(header: list[str]) -> bool:
    """True when a header carries the FOCUS signature columns (BilledCost, Charge/BillingPeriodStart)."""
    return {fold_name(h) for h in header} >= _SIGNATURE


def focus_plans(file: str, header: list[str]) -> list[FieldPlan]:
    """Map a FOCUS header to ledger columns; SourceRowError(line 1) names the first required column missing."""
    chosen: dict[str, tuple[int, str, bool]] = {}  # FOCUS name -> (index, header text, via alias)
    for index, raw in enumerate(header):
        if raw.strip().lower().startswith("x_"):
            continue  # provider custom column
        folded = fold_name(raw)
        if folded in _CANONICAL:
            focus = _CANONICAL[folded]
            if focus not in chosen or chosen[focus][2]:
                chosen[focus] = (index, raw, False)
        elif folded in _ALIASES:
            focus = _ALIASES[folded]
            chosen.setdefault(focus, (index, raw, True))
    for column in LEDGER_COLUMNS:
        if column.required and column.focus_name not in chosen:
            raise SourceRowError(file, 1, column.focus_name, "required column is missing from the header")
    return [plan_for(index, FOCUS_TO_LEDGER[focus], raw) for focus, (index, raw, _alias) in chosen.items()]


def focus_rows(reader: TabularReader) -> Iterator[dict[str, Any]]:
    """Ledger rows from an opened reader whose header is FOCUS."""
    plans = focus_plans(reader.name, reader.header)
    for line, values in reader.records():
        yield convert_record(plans, values, reader.name, line, empty_row())


class FocusSource:
    """A FOCUS file as a BillingSource (opened lazily, one pass)."""

    name = "focus"

    def __init__(self, source: PathOrFile, *, filename: str | None = None) -> None:
        self._source = source
        self._filename = filename

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        with TabularReader(self._source, filename=self._filename) as reader:
            yield from batch_rows(focus_rows(reader), reader.progress, batch_size)


def open_focus_source(path_or_fileobj: PathOrFile, *, filename: str | None = None) -> FocusSource:
    """A FOCUS CSV / CSV.gz / Parquet file from a path or a binary file object (e.g. an upload's
    SpooledTemporaryFile, read from its current position). Format is detected from the first bytes."""
    return FocusSource(path_or_fileobj, filename=filename)


def open_focus_source_s3(bucket: str, key: str, *, s3_client: Any) -> S3FileSource:
    """A FOCUS file in S3 (or every data file under a key ending in '/'), through a boto3 S3 client."""
    return S3FileSource(
        "focus",
        bucket,
        key,
        s3_client=s3_client,
        factory=lambda path, shown: FocusSource(path, filename=shown),
    )
