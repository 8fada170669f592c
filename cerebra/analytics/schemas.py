"""Response models of /api/v1/analytics (money as decimal strings with 6 places, times in UTC)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Rows(BaseModel):
    model_config = ConfigDict(extra="allow")


class SpendRow(_Rows):
    """`period` (with a granularity), the group_by value under its name, then `cost` and `requests`."""

    cost: str
    requests: int


class Spend(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    group_by: str
    granularity: str | None
    currency: str = "USD"
    total_cost: str
    total_requests: int
    rows: list[SpendRow]


class UsageRow(_Rows):
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    total_tokens: int


class Usage(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    group_by: str
    granularity: str | None
    rows: list[UsageRow]


class Percentiles(BaseModel):
    p50: float | None
    p95: float | None
    p99: float | None


class LatencyRow(BaseModel):
    model: str | None
    provider: str | None
    requests: int
    latency_ms: Percentiles
    ttft_ms: Percentiles


class Latency(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    rows: list[LatencyRow]


class CacheRow(_Rows):
    requests: int
    cache_hits: int
    hit_ratio: float | None
    saved_cost: str


class Cache(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    group_by: str
    requests: int
    cache_hits: int
    hit_ratio: float | None
    saved_cost: str
    rows: list[CacheRow]


class TopRow(_Rows):
    cost: str
    requests: int


class TopSpenders(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    dimension: str
    rows: list[TopRow]


class SpikeRow(_Rows):
    recent_cost: str
    baseline_cost: str = Field(description="average cost per `hours` over the 7 days before")
    recent_requests: int
    baseline_requests: int
    ratio: float | None = Field(description="recent / baseline; null when the baseline is 0")
    spike: bool


class Spikes(BaseModel):
    dimension: str
    hours: int
    factor: float
    recent_from: datetime
    baseline_from: datetime
    to: datetime
    rows: list[SpikeRow]


class RecommendationRow(BaseModel):
    model: str
    provider: str | None
    suggested_model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    current_cost: str
    suggested_cost: str
    saving: str
    reason: str


class Recommendations(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    max_prompt_tokens: int
    max_completion_tokens: int
    total_saving: str
    rows: list[RecommendationRow]
