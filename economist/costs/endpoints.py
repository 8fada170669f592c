"""Routes of /api/v1/costs: grouped costs, summary, breakdown by one dimension, and the daily trend."""

from dataclasses import replace
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from economist.costs.params import (
    CostQuery,
    Granularity,
    MetricName,
    parse_currency,
    parse_dimension,
    parse_filter,
    parse_group_by,
    window,
)
from economist.costs.schemas import (
    BreakdownResponse,
    CostsResponse,
    SummaryResponse,
    TrendResponse,
    cost_row,
    money,
    percent,
)
from economist.costs.service import CostService
from economist.settings import EconomistSettings
from oco.app import AUTH_ERRORS, Responses
from oco.auth import Principal, require_scope
from oco.pagination import Pagination
from oco.timeutil import utcnow

router = APIRouter(prefix="/api/v1/costs", tags=["costs"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]

QUERY_ERRORS: Responses = {
    **AUTH_ERRORS,
    400: {"description": "a parameter cannot be understood (`param` names it)"},
    409: {"description": "several currencies and no `currency`, or no exchange rate for a conversion"},
}
FILTER_HELP = (
    "comma list of dim:value (| for alternatives), tags as tag:key=value; e.g. provider:AWS,tag:env=prod"
)
GROUP_HELP = (
    "comma list of provider, service, account, billing_account, region, resource, charge_category, tag:<key>"
)


def cost_service(request: Request) -> CostService:
    settings: EconomistSettings = request.app.state.settings
    return CostService(request.app.state.database, settings.oco_economist_default_currency)


Service = Annotated[CostService, Depends(cost_service)]


def base_query(
    request: Request,
    start: Annotated[
        date | None, Query(alias="from", description="first day (UTC), default: 30 days before `to`")
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="day after the last (exclusive), default: tomorrow")
    ] = None,
    filter: Annotated[str | None, Query(max_length=2000, description=FILTER_HELP)] = None,  # noqa: A002
    metric: MetricName = "billed",
    currency: Annotated[
        str | None, Query(max_length=8, description="report in this currency (converts with loaded rates)")
    ] = None,
) -> CostQuery:
    settings: EconomistSettings = request.app.state.settings
    first, last = window(start, end, utcnow().date())
    return CostQuery(
        start=first,
        end=last,
        metric=metric,
        filters=parse_filter(filter, settings.tag_normalizer),
        currency=parse_currency(currency),
    )


BaseQuery = Annotated[CostQuery, Depends(base_query)]


@router.get(
    "",
    response_model=CostsResponse,
    summary="Costs grouped by dimensions and periods",
    responses=QUERY_ERRORS,
)
async def costs(
    request: Request,
    _: Caller,
    service: Service,
    query: BaseQuery,
    page: Pagination,
    granularity: Granularity | None = None,
    group_by: Annotated[str | None, Query(max_length=500, description=GROUP_HELP)] = None,
) -> CostsResponse:
    settings: EconomistSettings = request.app.state.settings
    dims = parse_group_by(group_by, settings.tag_normalizer)
    result = await service.query(
        replace(query, granularity=granularity, group_by=dims, limit=page.limit, offset=page.offset)
    )
    return CostsResponse(
        currency=result.currency,
        metric=result.metric,
        total=money(result.total),
        rows=[cost_row(r, granularity is not None) for r in result.rows],
        limit=result.limit,
        offset=result.offset,
        total_rows=result.total_rows,
    )


@router.get(
    "/summary",
    response_model=SummaryResponse,
    summary="Total, by provider, top services, and the change against the previous window",
    responses=QUERY_ERRORS,
)
async def summary(_: Caller, service: Service, query: BaseQuery) -> SummaryResponse:
    data = await service.summary(query)
    return SummaryResponse(
        currency=data["currency"],
        metric=data["metric"],
        from_=data["from"],
        to=data["to"],
        total=money(data["total"]),
        previous_from=data["previous_from"],
        previous_to=data["previous_to"],
        previous_total=money(data["previous_total"]),
        change=money(data["change"]),
        change_percent=percent(data["change_percent"]),
        by_provider=[cost_row(r, False) for r in data["by_provider"]],
        top_services=[cost_row(r, False) for r in data["top_services"]],
    )


@router.get(
    "/breakdown",
    response_model=BreakdownResponse,
    summary="Costs by one dimension, largest first, with each row's share of the total",
    responses=QUERY_ERRORS,
)
async def breakdown(
    request: Request,
    _: Caller,
    service: Service,
    query: BaseQuery,
    dimension: Annotated[
        str,
        Query(
            max_length=200,
            description="provider, service, account, billing_account, region, resource, charge_category or tag:<key>",
        ),
    ],
    page: Pagination,
) -> BreakdownResponse:
    settings: EconomistSettings = request.app.state.settings
    dim = parse_dimension(dimension, settings.tag_normalizer, "dimension")
    result, _dim = await service.breakdown(replace(query, limit=page.limit, offset=page.offset), dim)
    return BreakdownResponse(
        currency=result.currency,
        metric=result.metric,
        dimension=dim.name,
        total=money(result.total),
        rows=[cost_row(r, False) for r in result.rows],
        limit=result.limit,
        offset=result.offset,
        total_rows=result.total_rows,
    )


@router.get(
    "/trend",
    response_model=TrendResponse,
    summary="Daily costs over the last period_days, with slope and change against the previous period",
    responses=QUERY_ERRORS,
)
async def trend(
    _: Caller,
    service: Service,
    query: BaseQuery,
    period_days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> TrendResponse:
    query = replace(query, start=query.end - timedelta(days=period_days))
    data = await service.trend(query)
    return TrendResponse(
        currency=data["currency"],
        metric=data["metric"],
        from_=data["from"],
        to=data["to"],
        total=money(data["total"]),
        average_daily=money(data["average_daily"]),
        slope_per_day=money(data["slope_per_day"]),
        previous_total=money(data["previous_total"]),
        change=money(data["change"]),
        change_percent=percent(data["change_percent"]),
        rows=[cost_row(r, True) for r in data["rows"]],
    )
