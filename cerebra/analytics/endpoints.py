"""Routes of /api/v1/analytics (scope `admin`): spend, usage, latency, cache, top spenders, spikes and
recommendations read from the request log, and its FOCUS 1.2 export."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from cerebra.analytics import schemas as s
from cerebra.analytics.focus import FocusExport, FocusFormat
from cerebra.analytics.params import (
    MAX_RAW_WINDOW_DAYS,
    AnalyticsQueryError,
    Granularity,
    Window,
    parse_dimension,
    parse_instant,
    parse_window,
)
from cerebra.analytics.recommend import DEFAULT_MAX_COMPLETION_TOKENS, DEFAULT_MAX_PROMPT_TOKENS
from cerebra.analytics.service import BASELINE_DAYS, TOKEN_MEASURES, AnalyticsService
from oco.app import AUTH_ERRORS, Responses
from oco.auth import Principal, require_scope
from oco.money import money_str, parse_money

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]
BAD: Responses = {**AUTH_ERRORS, 400: {"description": "a parameter cannot be understood (`param` names it)"}}
WINDOW_DOC = "ISO date or datetime, UTC unless an offset is given"
From = Annotated[
    str | None, Query(alias="from", max_length=40, description=f"start (inclusive), {WINDOW_DOC}")
]
To = Annotated[str | None, Query(alias="to", max_length=40, description=f"end (exclusive), {WINDOW_DOC}")]
GroupBy = Annotated[
    str | None, Query(max_length=20, description="model, provider, key, team, org, agent or alias")
]
GranularityQuery = Annotated[Granularity | None, Query(description="one row per hour or day per group")]


def analytics_service(request: Request) -> AnalyticsService:
    return AnalyticsService(request.app.state.database)


Service = Annotated[AnalyticsService, Depends(analytics_service)]


def _money(value: Decimal) -> str:
    text = money_str(value)
    assert text is not None
    return text


def _public(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k in names}


@router.get(
    "/spend", response_model=s.Spend, summary="Cost and requests per group (and period)", responses=BAD
)
async def spend(
    _: Admin,
    service: Service,
    start: From = None,
    end: To = None,
    group_by: GroupBy = None,
    granularity: GranularityQuery = None,
) -> s.Spend:
    window = parse_window(start, end)
    dimension = parse_dimension(group_by, "group_by")
    result = await service.grouped(window, [dimension], granularity, ("cost_usd", "requests"))
    rows = [
        s.SpendRow(**_public(r, ("period", dimension)), cost=_money(r["cost_usd"]), requests=r["requests"])
        for r in result
    ]
    total = sum((r["cost_usd"] for r in result), Decimal(0))
    return s.Spend(
        start=window.start,
        end=window.end,
        group_by=dimension,
        granularity=granularity,
        total_cost=_money(total),
        total_requests=sum(r["requests"] for r in result),
        rows=rows,
    )


@router.get(
    "/usage", response_model=s.Usage, summary="Requests and tokens per group (and period)", responses=BAD
)
async def usage(
    _: Admin,
    service: Service,
    start: From = None,
    end: To = None,
    group_by: GroupBy = None,
    granularity: GranularityQuery = None,
) -> s.Usage:
    window = parse_window(start, end)
    dimension = parse_dimension(group_by, "group_by")
    measures = ("requests", "errors", *TOKEN_MEASURES)
    result = await service.grouped(window, [dimension], granularity, measures)
    rows = [s.UsageRow(**r, total_tokens=r["prompt_tokens"] + r["completion_tokens"]) for r in result]
    return s.Usage(start=window.start, end=window.end, group_by=dimension, granularity=granularity, rows=rows)


@router.get(
    "/latency",
    response_model=s.Latency,
    summary="p50/p95/p99 of latency and time to first token (ms) of successful calls per model and provider",
    responses=BAD,
)
async def latency(_: Admin, service: Service, start: From = None, end: To = None) -> s.Latency:
    window = parse_window(start, end, max_days=MAX_RAW_WINDOW_DAYS)
    rows = [
        s.LatencyRow(
            model=r["model"],
            provider=r["provider"],
            requests=r["requests"],
            latency_ms=s.Percentiles(**dict(zip(("p50", "p95", "p99"), r["latency_ms"], strict=True))),
            ttft_ms=s.Percentiles(**dict(zip(("p50", "p95", "p99"), r["ttft_ms"], strict=True))),
        )
        for r in await service.latency(window)
    ]
    return s.Latency(start=window.start, end=window.end, rows=rows)


def _ratio(hits: int, requests: int) -> float | None:
    return round(hits / requests, 6) if requests else None


@router.get(
    "/cache", response_model=s.Cache, summary="Response-cache hit ratio and saved cost", responses=BAD
)
async def cache(
    _: Admin, service: Service, start: From = None, end: To = None, group_by: GroupBy = None
) -> s.Cache:
    window = parse_window(start, end)
    dimension = parse_dimension(group_by, "group_by")
    result = await service.grouped(window, [dimension], None, ("requests", "cache_hits", "saved_cost_usd"))
    rows = [
        s.CacheRow(
            **{dimension: r[dimension]},
            requests=r["requests"],
            cache_hits=r["cache_hits"],
            hit_ratio=_ratio(r["cache_hits"], r["requests"]),
            saved_cost=_money(r["saved_cost_usd"]),
        )
        for r in result
    ]
    requests = sum(r["requests"] for r in result)
    hits = sum(r["cache_hits"] for r in result)
    return s.Cache(
        start=window.start,
        end=window.end,
        group_by=dimension,
        requests=requests,
        cache_hits=hits,
        hit_ratio=_ratio(hits, requests),
        saved_cost=_money(sum((r["saved_cost_usd"] for r in result), Decimal(0))),
        rows=rows,
    )


@router.get(
    "/top-spenders",
    response_model=s.TopSpenders,
    summary="The groups that cost most, most first",
    responses=BAD,
)
async def top_spenders(
    _: Admin,
    service: Service,
    start: From = None,
    end: To = None,
    dimension: Annotated[str | None, Query(max_length=20, description="default: key")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> s.TopSpenders:
    window = parse_window(start, end)
    name = parse_dimension(dimension, "dimension", default="key")
    rows = [
        s.TopRow(**{name: r[name]}, cost=_money(r["cost_usd"]), requests=r["requests"])
        for r in await service.top(window, name, limit)
    ]
    return s.TopSpenders(start=window.start, end=window.end, dimension=name, rows=rows)


@router.get(
    "/spikes",
    response_model=s.Spikes,
    summary="Cost per group in the last N hours against its average per N hours over the 7 days before",
    responses=BAD,
)
async def spikes(
    _: Admin,
    service: Service,
    end: To = None,
    dimension: Annotated[str | None, Query(max_length=20, description="default: model")] = None,
    hours: Annotated[int, Query(ge=1, le=72)] = 1,
    factor: Annotated[float, Query(gt=1, le=1000)] = 2.0,
    min_cost: Annotated[str, Query(max_length=30, description="smallest recent cost that counts")] = "0",
) -> s.Spikes:
    name = parse_dimension(dimension, "dimension")
    last = parse_instant(end, "to") if end else parse_window(None, None).end
    try:
        floor = parse_money(min_cost)
    except ValueError:
        raise AnalyticsQueryError(
            f"min_cost must be a decimal amount, got {min_cost!r}"[:200], "min_cost"
        ) from None
    if floor < 0:
        raise AnalyticsQueryError("min_cost must not be negative", "min_cost")
    rows = [
        s.SpikeRow(
            **{name: x.value},
            recent_cost=_money(x.recent_cost),
            baseline_cost=_money(x.baseline_cost),
            recent_requests=x.recent_requests,
            baseline_requests=x.baseline_requests,
            ratio=x.ratio,
            spike=x.spike,
        )
        for x in await service.spikes(last, name, hours, factor, floor)
    ]
    recent_from = last - timedelta(hours=hours)
    return s.Spikes(
        dimension=name,
        hours=hours,
        factor=factor,
        recent_from=recent_from,
        baseline_from=recent_from - timedelta(days=BASELINE_DAYS),
        to=last,
        rows=rows,
    )


@router.get(
    "/recommendations",
    response_model=s.Recommendations,
    summary="Cheaper models for short calls, the saving priced from the price table for the same tokens",
    responses=BAD,
)
async def recommendations(
    _: Admin,
    service: Service,
    start: From = None,
    end: To = None,
    max_prompt_tokens: Annotated[int, Query(ge=1, le=1_000_000)] = DEFAULT_MAX_PROMPT_TOKENS,
    max_completion_tokens: Annotated[int, Query(ge=1, le=1_000_000)] = DEFAULT_MAX_COMPLETION_TOKENS,
) -> s.Recommendations:
    window = parse_window(start, end, max_days=MAX_RAW_WINDOW_DAYS)
    found = await service.recommendations(window, max_prompt_tokens, max_completion_tokens)
    rows = [
        s.RecommendationRow(
            model=r.model,
            provider=r.provider,
            suggested_model=r.suggested_model,
            requests=r.requests,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            current_cost=_money(r.current_cost),
            suggested_cost=_money(r.suggested_cost),
            saving=_money(r.saving),
            reason=r.reason,
        )
        for r in found
    ]
    return s.Recommendations(
        start=window.start,
        end=window.end,
        max_prompt_tokens=max_prompt_tokens,
        max_completion_tokens=max_completion_tokens,
        total_saving=_money(sum((r.saving for r in found), Decimal(0))),
        rows=rows,
    )


@router.get(
    "/focus",
    summary="The request log as FOCUS 1.2 rows (one per hour x key x model), CSV or Parquet, streamed",
    response_class=StreamingResponse,
    responses={
        **BAD,
        200: {
            "description": "the FOCUS file",
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
        },
    },
)
async def focus(
    request: Request,
    _: Admin,
    start: From = None,
    end: To = None,
    format: FocusFormat = "csv",  # noqa: A002
) -> StreamingResponse:
    window: Window = parse_window(start, end)
    export = FocusExport(request.app.state.database)
    return StreamingResponse(
        export.stream(window, format),
        media_type=export.media_type(format),
        headers={"Content-Disposition": f'attachment; filename="{export.file_name(window, format)}"'},
    )
