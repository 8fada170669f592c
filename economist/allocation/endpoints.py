"""Route of /api/v1/allocation: showback by one dimension with untagged and shared cost split exactly."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from economist.allocation.params import shared_costs_filter
from economist.allocation.schemas import AllocationResponse, allocation_out
from economist.allocation.service import AllocationService, SharedRule
from economist.costs.endpoints import FILTER_HELP, QUERY_ERRORS, base_query
from economist.costs.params import CostQuery, parse_dimension
from economist.settings import EconomistSettings
from oco.auth import Principal, require_scope

router = APIRouter(prefix="/api/v1/allocation", tags=["allocation"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]


def allocation_service(request: Request) -> AllocationService:
    settings: EconomistSettings = request.app.state.settings
    return AllocationService(request.app.state.database, settings.oco_economist_default_currency)


@router.get(
    "",
    response_model=AllocationResponse,
    summary="Costs per group (e.g. tag:team) with untagged and shared cost split so the parts add up exactly",
    description="Shared cost is every row with no value for `by`, plus the rows matching `shared_filter` "
    "(default: the setting OCO_ECONOMIST_SHARED_COSTS). `shared=proportional` splits it by the groups' "
    "direct cost, `even` equally, `none` leaves it `unallocated`. The rule applied is in `rule`.",
    responses=QUERY_ERRORS,
)
async def allocation(
    request: Request,
    _: Caller,
    service: Annotated[AllocationService, Depends(allocation_service)],
    query: Annotated[CostQuery, Depends(base_query)],
    by: Annotated[
        str, Query(max_length=200, description="the dimension of the groups, e.g. tag:team or account")
    ],
    shared: SharedRule = "proportional",
    shared_filter: Annotated[
        str | None,
        Query(max_length=2000, description=f"which rows are shared (besides untagged ones): {FILTER_HELP}"),
    ] = None,
) -> AllocationResponse:
    settings: EconomistSettings = request.app.state.settings
    dimension = parse_dimension(by, settings.tag_normalizer, "by")
    text, filters = shared_costs_filter(settings, shared_filter)
    result = await service.allocate(query, dimension, shared, filters, text)
    return allocation_out(result, query.start, query.end)
