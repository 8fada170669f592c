"""Request and response models of the recommendations and utilization APIs (money as strings)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from economist.costs.params import FIRST_DAY, LAST_DAY
from oco.money import money_str
from oco.pagination import Page
from oco.timeutil import as_utc

Percent = Annotated[Decimal, Field(ge=0, le=100)]
Status = Literal["open", "accepted", "dismissed", "implemented"]
Level = Literal["low", "medium", "high"]
RecommendationType = Literal[
    "unattached_volume", "idle_ip", "idle_load_balancer", "idle_database", "rightsize", "storage_tiering",
    "spot_candidate", "commitment_purchase", "commitment_underused",
]  # fmt: skip


class Recommendation(BaseModel):
    """One savings recommendation: what, where, the numbers it came from, the saving and its status."""

    id: int
    type: str
    resource_id: str
    resource_name: str | None
    provider: str | None
    billing_account_id: str | None
    account_id: str | None
    region: str | None
    service_name: str | None
    summary: str
    estimated_monthly_saving: str = Field(description="per month, in `currency` (the ledger's)")
    currency: str
    evidence: dict[str, Any] = Field(description="the numbers the saving was computed from")
    confidence: Level
    effort: Level
    risk: Level
    status: Status
    status_reason: str | None
    status_by: str | None = Field(description="who changed the status last (key name and id, or refresh)")
    status_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Recommendation:
        values = dict(row)
        values["estimated_monthly_saving"] = money_str(Decimal(row["estimated_monthly_saving"]))
        for name in ("status_at", "first_seen_at", "last_seen_at"):
            values[name] = as_utc(row[name])
        return cls(**values)


class RecommendationPage(Page[Recommendation]):
    """A page of recommendations, sorted by saving, with the total saving of everything matching."""

    total_monthly_saving: str | None = Field(
        description="sum of the matching recommendations' saving (null when they are in several currencies)"
    )
    currency: str | None
    savings_by_currency: dict[str, str]


class StatusChange(BaseModel):
    """A status change; `reason` is required to dismiss."""

    status: Status
    reason: str | None = Field(default=None, max_length=2000)


class RefreshIn(BaseModel):
    as_of: date | None = Field(
        default=None,
        ge=FIRST_DAY,
        le=LAST_DAY,
        description="the window ends at the start of this day (default: after the ledger's last day)",
    )
    billing_account: str | None = Field(
        default=None, max_length=200, description="only this billing account (default: all)"
    )


class RefreshOut(BaseModel):
    as_of: date
    window_start: datetime
    window_end: datetime
    created: int
    updated: int
    reopened: int
    closed: int
    found: dict[str, int]
    duration_ms: int


class UtilizationIn(BaseModel):
    """Utilization of one resource over a window: `samples` (percent), or `p95` (with optional p50 and max)."""

    resource_id: str = Field(min_length=1, max_length=2000)
    metric: Literal["cpu", "memory"]
    size: str | None = Field(default=None, max_length=100, description="its current size, e.g. m5.xlarge")
    window_start: datetime | None = None
    window_end: datetime | None = None
    samples: list[Percent] | None = Field(default=None, min_length=1, max_length=100_000)
    p50: Decimal | None = Field(default=None, ge=0, le=100)
    p95: Decimal | None = Field(default=None, ge=0, le=100)
    max: Decimal | None = Field(default=None, ge=0, le=100)


class UtilizationOut(BaseModel):
    resource_id: str
    metric: str
    size: str | None
    window_start: datetime | None
    window_end: datetime | None
    sample_count: int | None
    p50: str | None
    p95: str
    max: str | None
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UtilizationOut:
        def text(value: Any) -> str | None:
            return None if value is None else format(Decimal(value).normalize(), "f")

        return cls(
            resource_id=row["resource_id"],
            metric=row["metric"],
            size=row["size"],
            window_start=as_utc(row["window_start"]),
            window_end=as_utc(row["window_end"]),
            sample_count=row["sample_count"],
            p50=text(row["p50"]),
            p95=text(row["p95"]) or "0",
            max=text(row["max"]),
            recorded_at=as_utc(row["recorded_at"]) or row["recorded_at"],
        )
