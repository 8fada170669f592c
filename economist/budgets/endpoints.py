"""Routes of /api/v1/budgets: create, list, read, change and delete budgets, and a budget's period status."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from economist.budgets.schemas import (
    Budget,
    BudgetCreate,
    BudgetList,
    BudgetStatus,
    BudgetUpdate,
    status_out,
)
from economist.budgets.service import BudgetService
from economist.costs.endpoints import QUERY_ERRORS
from oco.app import AUTH_ERRORS, Responses
from oco.auth import Principal, require_scope
from oco.errors import NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]


def budget_service(request: Request) -> BudgetService:
    return request.app.state.budgets


Service = Annotated[BudgetService, Depends(budget_service)]
NOT_FOUND: Responses = {404: {"description": "no such budget"}}
TAKEN: Responses = {409: {"description": "a budget with this name exists"}}


def _not_found(budget_id: int) -> NotFound:
    return NotFound(f"budget {budget_id} not found")


@router.post(
    "",
    status_code=201,
    response_model=Budget,
    summary="Create a budget: an amount per month or quarter for a scope, with alert thresholds",
    responses={**AUTH_ERRORS, **TAKEN},
)
async def create_budget(body: BudgetCreate, principal: Caller, service: Service) -> Budget:
    values = body.model_dump()
    return Budget.from_row(await service.create(values, created_by=principal.name))


@router.get("", response_model=BudgetList, summary="List budgets by name", responses=AUTH_ERRORS)
async def list_budgets(_: Caller, service: Service, page: Pagination) -> BudgetList:
    rows, total = await service.page(page)
    return BudgetList(
        items=[Budget.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{budget_id}", response_model=Budget, summary="One budget", responses={**AUTH_ERRORS, **NOT_FOUND}
)
async def get_budget(budget_id: RowIdPath, _: Caller, service: Service) -> Budget:
    budget = await service.get(budget_id)
    if budget is None:
        raise _not_found(budget_id)
    return Budget.from_row(budget)


@router.patch(
    "/{budget_id}",
    response_model=Budget,
    summary="Change a budget (only the fields sent)",
    responses={**AUTH_ERRORS, **NOT_FOUND, **TAKEN},
)
async def update_budget(budget_id: RowIdPath, body: BudgetUpdate, _: Caller, service: Service) -> Budget:
    budget = await service.update(budget_id, body.changes())
    if budget is None:
        raise _not_found(budget_id)
    return Budget.from_row(budget)


@router.delete(
    "/{budget_id}",
    status_code=204,
    summary="Delete a budget and its alert records",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def delete_budget(budget_id: RowIdPath, _: Caller, service: Service) -> Response:
    if not await service.delete(budget_id):
        raise _not_found(budget_id)
    return Response(status_code=204)


@router.get(
    "/{budget_id}/status",
    response_model=BudgetStatus,
    summary="Spent to date, forecast at period end, remaining, utilization and thresholds (evaluated now)",
    description="Reaching a threshold records it (once per period) and reports it in `newly_crossed`. "
    "Costs in other currencies are converted with loaded exchange rates (409 without one).",
    responses={**QUERY_ERRORS, **NOT_FOUND},
)
async def budget_status(
    budget_id: RowIdPath,
    _: Caller,
    service: Service,
    at: Annotated[
        date | None, Query(description="the day the status is as of (its period; default: today, UTC)")
    ] = None,
) -> BudgetStatus:
    state = await service.status(budget_id, at=at)
    if state is None:
        raise _not_found(budget_id)
    return status_out(state)
