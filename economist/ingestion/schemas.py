"""Request and response models of the ingestion API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from oco.money import money_str
from oco.pagination import Page
from oco.timeutil import as_utc

SourceKind = Literal[
    "focus", "aws_cost_explorer", "aws_cur", "azure_cost", "azure_export", "gcp_bigquery", "cerebra"
]
Status = Literal["pending", "running", "succeeded", "failed"]


class Period(BaseModel):
    """Charge days [start, end): end is exclusive, like Cost Explorer's."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end <= self.start:
            raise ValueError("period.end must be after period.start (end is exclusive)")
        return self


class IngestionRequest(BaseModel):
    """Start an ingestion. Options by source:
    focus / aws_cur: `path` (a file under OCO_ECONOMIST_INGEST_DIRS) or `bucket` + `key` (S3; a key ending
    in '/' takes every data file under it); azure_export: `path`, `cost_type` (ActualCost|AmortizedCost);
    aws_cost_explorer: `group_by` (dimensions, default SERVICE,LINKED_ACCOUNT), `tag_keys`,
    `effective_metric`, `filter` (a Cost Explorer filter expression); azure_cost: `scope` (required),
    `cost_type`, `group_by`, `tag_key`; gcp_bigquery: `table` (required), `detailed`, `project`,
    `list_prices` (true: ListCost from the Cloud Billing Catalog where the export has no list price) and
    `list_price_currency` (USD); cerebra: none (cerebra's FOCUS export at OCO_ECONOMIST_CEREBRA_URL).
    API sources (and cerebra) need a `period`. Every source accepts `replace_key` (a string, see below).

    What a load replaces (the same bill never counts twice; README "What replaces what"), inside the billing
    periods (per provider and billing account) of its rows and inside `period` when one is given: an
    earlier load of the same source with the same *origin* (file name, S3 key, API scope, `replace_key`) or
    the same rows (any name, compression or format); and, between file loads without a replace_key, an
    earlier export of the same cells over the charge days the new one covers (a corrected re-export),
    unless both are numbered parts of one export (part-00001.csv, part-00002.csv add up). `path` may name a
    folder or an export manifest (`*manifest.json`): all its files are one load."""

    source: SourceKind
    period: Period | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class RowError(BaseModel):
    """Why an ingestion failed: for a bad row, its file, line (header = line 1) and column."""

    file: str | None = None
    line: int | None = None
    column: str | None = None
    message: str


class Progress(BaseModel):
    """How far the source has been read (bytes_total is known for files)."""

    rows_read: int
    bytes_read: int
    bytes_total: int | None
    percent: float | None


class Ingestion(BaseModel):
    """An ingestion record. `totals`: billed cost per billing currency (6 decimals)."""

    id: int
    source: str
    status: Status
    period: Period | None
    options: dict[str, Any]
    filename: str | None
    created_by: str | None
    rows: int
    replaced_rows: int
    totals: dict[str, str]
    progress: Progress
    duration_ms: int | None
    errors: list[RowError]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Ingestion:
        total = record["bytes_total"]
        read = record["bytes_read"] or 0
        percent = None
        if record["status"] == "succeeded":
            percent = 100.0
        elif total:
            percent = round(min(100.0, 100.0 * read / total), 1)
        period = None
        if record["period_start"] and record["period_end"]:
            period = Period(start=record["period_start"], end=record["period_end"])
        return cls(
            id=record["id"],
            source=record["source"],
            status=record["status"],
            period=period,
            options=record["options"] or {},
            filename=record["filename"],
            created_by=record["created_by"],
            rows=record["row_count"] or 0,
            replaced_rows=record["replaced_rows"] or 0,
            totals={k: money_str(Decimal(v)) or "0.000000" for k, v in (record["totals"] or {}).items()},
            progress=Progress(
                rows_read=record["rows_read"] or 0, bytes_read=read, bytes_total=total, percent=percent
            ),
            duration_ms=record["duration_ms"],
            errors=[RowError(**e) for e in record["errors"] or []],
            created_at=as_utc(record["created_at"]),
            started_at=as_utc(record["started_at"]),
            finished_at=as_utc(record["finished_at"]),
        )


class IngestionPage(Page[Ingestion]):
    """A page of ingestions, newest first."""
