"""The analytics over the request log: spend, usage, latency percentiles, cache savings, top spenders, spikes
against a 7-day baseline and cheaper-model recommendations priced from the price table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from cerebra.analytics import repository as repo
from cerebra.analytics.params import Granularity, Window
from cerebra.analytics.recommend import Recommendation, recommend
from oco.db import Database
from oco.money import quantize_money
from oco.timeutil import as_utc

BASELINE_DAYS = 7
TOKEN_MEASURES = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_creation_tokens")


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks of sorted values."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _money(value: Any) -> Decimal:
    return quantize_money(Decimal(value or 0))


def _period(row: dict[str, Any]) -> None:
    if "period" in row and row["period"] is not None:
        row["period"] = as_utc(row["period"])


@dataclass(frozen=True)
class Spike:
    value: Any
    recent_cost: Decimal
    baseline_cost: Decimal
    recent_requests: int
    baseline_requests: int
    ratio: float | None
    spike: bool


class AnalyticsService:
    """Reads the request log (and its rollup) of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @property
    def dialect(self) -> str:
        return self.database.dialect

    async def _rows(self, statement: Any) -> list[dict[str, Any]]:
        async with self.database.engine.connect() as conn:
            return await repo.rows(conn, statement)

    async def grouped(
        self,
        window: Window,
        dimensions: Sequence[str],
        granularity: Granularity | None,
        measures: Sequence[str],
    ) -> list[dict[str, Any]]:
        """Rows of period (if any), the dimensions and the measures; money as Decimal (6 places)."""
        statement = repo.grouped_statement(window, self.dialect, dimensions, granularity, measures)
        result = await self._rows(statement)
        for row in result:
            _period(row)
            for name in ("cost_usd", "saved_cost_usd"):
                if name in row:
                    row[name] = _money(row[name])
            for name in measures:
                if name not in ("cost_usd", "saved_cost_usd"):
                    row[name] = int(row[name] or 0)
        return result

    async def top(self, window: Window, dimension: str, limit: int) -> list[dict[str, Any]]:
        result = await self._rows(repo.top_statement(window, self.dialect, dimension, limit))
        return [
            {dimension: r[dimension], "cost_usd": _money(r["cost_usd"]), "requests": int(r["requests"])}
            for r in result
        ]

    async def latency(self, window: Window) -> list[dict[str, Any]]:
        """Per model and provider: successful requests and p50/p95/p99 of latency and TTFT (ms)."""
        result = await self._rows(repo.latency_statement(window, self.dialect))
        if self.dialect == "postgresql":
            return [
                {
                    "model": r["model"],
                    "provider": r["provider"],
                    "requests": int(r["requests"]),
                    "latency_ms": list(r["latency"] or [None] * 3),
                    "ttft_ms": list(r["ttft"] or [None] * 3),
                }
                for r in result
            ]
        out = []
        for (model, provider), group in groupby(result, key=lambda r: (r["model"], r["provider"])):
            calls = list(group)
            latencies = sorted(float(r["latency_ms"]) for r in calls)
            ttfts = sorted(float(r["ttft_ms"]) for r in calls if r["ttft_ms"] is not None)
            out.append(
                {
                    "model": model,
                    "provider": provider,
                    "requests": len(calls),
                    "latency_ms": [percentile(latencies, f) for f in (0.5, 0.95, 0.99)],
                    "ttft_ms": [percentile(ttfts, f) for f in (0.5, 0.95, 0.99)],
                }
            )
        return out

    async def spikes(
        self, end: datetime, dimension: str, hours: int, factor: float, min_cost: Decimal
    ) -> list[Spike]:
        """Cost per value of `dimension` in the last `hours` (ending at `end`) against its average per
        `hours` over the 7 days before; a spike is a ratio of at least `factor` and a recent cost of at least
        `min_cost` (a value new in the recent window is a spike when its cost reaches `min_cost`)."""
        recent = Window(end - timedelta(hours=hours), end)
        baseline = Window(recent.start - timedelta(days=BASELINE_DAYS), recent.start)
        measures = ("cost_usd", "requests")
        now_rows = {r[dimension]: r for r in await self.grouped(recent, [dimension], None, measures)}
        base_rows = {r[dimension]: r for r in await self.grouped(baseline, [dimension], None, measures)}
        slices = Decimal(BASELINE_DAYS * 24) / Decimal(hours)
        out = []
        for value in sorted(now_rows.keys() | base_rows.keys(), key=lambda v: (v is None, str(v))):
            now_cost = now_rows[value]["cost_usd"] if value in now_rows else Decimal(0)
            base_total = base_rows[value]["cost_usd"] if value in base_rows else Decimal(0)
            base_cost = quantize_money(base_total / slices)
            ratio = float(now_cost / base_cost) if base_cost > 0 else None
            is_spike = now_cost >= min_cost and now_cost > 0 and (ratio is None or ratio >= factor)
            out.append(
                Spike(
                    value,
                    now_cost,
                    base_cost,
                    now_rows[value]["requests"] if value in now_rows else 0,
                    base_rows[value]["requests"] if value in base_rows else 0,
                    None if ratio is None else round(ratio, 4),
                    is_spike,
                )
            )
        out.sort(key=lambda s: (not s.spike, -(s.ratio or math.inf) if s.spike else 0, -s.recent_cost))
        return out

    async def recommendations(
        self, window: Window, max_prompt_tokens: int, max_completion_tokens: int
    ) -> list[Recommendation]:
        """Cheaper models for the short calls of the window (see cerebra.analytics.recommend)."""
        groups = await self._rows(repo.short_call_statement(window, max_prompt_tokens, max_completion_tokens))
        return recommend(groups, on=window.end.date())
