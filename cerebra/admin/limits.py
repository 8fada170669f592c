"""Routes of /api/v1/rate-limits (scope `admin`): caller limits per key or team, per model or for all;
a write applies on this replica at once and on the others within OCO_CEREBRA_CONTROL_REFRESH_S."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from cerebra.admin.endpoints import Admin, Service
from cerebra.admin.schemas import RateLimit, RateLimitCreate, RateLimitList, RateScope
from cerebra.control.tables import cerebra_rate_limits
from oco.app import AUTH_ERRORS, Responses
from oco.errors import NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1/rate-limits", tags=["rate limits"])
NOT_FOUND: Responses = {404: {"description": "no such rate limit"}}
TAKEN: Responses = {409: {"description": "a limit for this scope, id and model exists"}}


@router.post(
    "",
    status_code=201,
    response_model=RateLimit,
    summary="Limit a key or a team: requests and/or tokens per minute, for one alias or all",
    responses={**AUTH_ERRORS, **TAKEN},
)
async def create_rate_limit(body: RateLimitCreate, actor: Admin, service: Service) -> RateLimit:
    row = await service.create_rule(cerebra_rate_limits, "rate_limit", body.model_dump(), actor)
    return RateLimit.from_row(row)


@router.get("", response_model=RateLimitList, summary="List rate limits", responses=AUTH_ERRORS)
async def list_rate_limits(
    _: Admin,
    service: Service,
    page: Pagination,
    scope: Annotated[RateScope | None, Query()] = None,
    scope_id: Annotated[str | None, Query(max_length=200)] = None,
) -> RateLimitList:
    rows, total = await service.rule_page(cerebra_rate_limits, page, scope=scope, scope_id=scope_id)
    return RateLimitList(
        items=[RateLimit.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{limit_id}", response_model=RateLimit, summary="One rate limit", responses={**AUTH_ERRORS, **NOT_FOUND}
)
async def get_rate_limit(limit_id: RowIdPath, _: Admin, service: Service) -> RateLimit:
    row = await service.get_rule(cerebra_rate_limits, limit_id)
    if row is None:
        raise NotFound(f"rate limit {limit_id} not found")
    return RateLimit.from_row(row)


@router.delete(
    "/{limit_id}", status_code=204, summary="Delete a rate limit", responses={**AUTH_ERRORS, **NOT_FOUND}
)
async def delete_rate_limit(limit_id: RowIdPath, actor: Admin, service: Service) -> Response:
    if not await service.delete_rule(cerebra_rate_limits, "rate_limit", limit_id, actor):
        raise NotFound(f"rate limit {limit_id} not found")
    return Response(status_code=204)
