"""Routes of /api/v1/recommendations (list, get, status change, refresh) and /api/v1/utilization."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from economist.recommendations.schemas import (
    Recommendation,
    RecommendationPage,
    RecommendationType,
    RefreshIn,
    RefreshOut,
    Status,
    StatusChange,
    UtilizationIn,
    UtilizationOut,
)
from economist.recommendations.service import RecommendationService, UtilizationService
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.errors import NotFound
from oco.money import money_str
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1/recommendations", tags=["recommendations"])
utilization_router = APIRouter(prefix="/api/v1/utilization", tags=["recommendations"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such recommendation"}}


def recommendation_service(request: Request) -> RecommendationService:
    return request.app.state.recommendations


def utilization_service(request: Request) -> UtilizationService:
    return UtilizationService(request.app.state.database)


Service = Annotated[RecommendationService, Depends(recommendation_service)]


def actor(principal: Principal) -> str:
    return f"{principal.name} (key {principal.key_id})"


@router.get(
    "",
    response_model=RecommendationPage,
    summary="List recommendations sorted by monthly saving, with the count and total saving of all matching",
    responses=AUTH_ERRORS,
)
async def list_recommendations(
    _: Caller,
    service: Service,
    page: Pagination,
    type_: Annotated[RecommendationType | None, Query(alias="type")] = None,
    status: Status | None = None,
    provider: Annotated[str | None, Query(max_length=200)] = None,
    account: Annotated[
        str | None, Query(max_length=200, description="sub account or billing account id")
    ] = None,
    min_saving: Annotated[Decimal | None, Query(ge=0, description="only those saving at least this")] = None,
    sort: Annotated[Literal["-saving", "saving"], Query(description="-saving: largest first")] = "-saving",
) -> RecommendationPage:
    filters = {
        "type": type_,
        "status": status,
        "provider": provider,
        "account": account,
        "min_saving": min_saving,
    }
    rows, total, savings = await service.list(filters, descending=sort == "-saving", page=page)
    single = next(iter(savings.items())) if len(savings) == 1 else None
    return RecommendationPage(
        items=[Recommendation.from_row(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
        total_monthly_saving=money_str(single[1]) if single else ("0.000000" if not savings else None),
        currency=single[0] if single else None,
        savings_by_currency={c: money_str(v) or "0.000000" for c, v in sorted(savings.items())},
    )


@router.post(
    "/refresh",
    response_model=RefreshOut,
    summary="Run every rule over the ledger now: created, updated, reopened and closed recommendations",
    responses={**AUTH_ERRORS, 409: {"description": "another refresh is running"}},
)
async def refresh(_: Caller, service: Service, body: RefreshIn | None = None) -> RefreshOut:
    body = body or RefreshIn()
    result = await service.refresh(as_of=body.as_of, billing_account=body.billing_account)
    return RefreshOut(**vars(result))


@router.get(
    "/{recommendation_id}",
    response_model=Recommendation,
    summary="One recommendation with its evidence",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def get_recommendation(recommendation_id: RowIdPath, _: Caller, service: Service) -> Recommendation:
    row = await service.get(recommendation_id)
    if row is None:
        raise NotFound(f"no recommendation {recommendation_id}")
    return Recommendation.from_row(row)


@router.patch(
    "/{recommendation_id}",
    response_model=Recommendation,
    summary="Accept, dismiss (with a reason), mark implemented or reopen a recommendation",
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND,
        409: {"description": "a status change the lifecycle does not allow"},
        422: {"description": "a dismissal without a reason, or an unknown status"},
    },
)
async def change_status(
    recommendation_id: RowIdPath, body: StatusChange, principal: Caller, service: Service
) -> Recommendation:
    row = await service.change_status(recommendation_id, body.status, body.reason, actor(principal))
    if row is None:
        raise NotFound(f"no recommendation {recommendation_id}")
    return Recommendation.from_row(row)


@utilization_router.post(
    "",
    status_code=201,
    response_model=UtilizationOut,
    summary="Record a resource's cpu or memory utilization (samples or p50/p95/max, percent) for rightsizing",
    responses={**AUTH_ERRORS, 422: {"description": "an invalid field (named in `param`)"}},
)
async def record_utilization(
    body: UtilizationIn, _: Caller, service: Annotated[UtilizationService, Depends(utilization_service)]
) -> UtilizationOut:
    row = await service.record(
        resource_id=body.resource_id,
        metric=body.metric,
        size=body.size,
        window_start=body.window_start,
        window_end=body.window_end,
        samples=body.samples,
        p50=body.p50,
        p95=body.p95,
        maximum=body.max,
    )
    return UtilizationOut.from_row(row)
