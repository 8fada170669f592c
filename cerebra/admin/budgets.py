"""Routes of /api/v1/budgets (scope `admin`): budgets per key, team, org or agent, per model or for all,
daily, weekly, monthly or in total; and their status (spent, reserved, remaining) in the current period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from cerebra.admin.endpoints import Admin, Service
from cerebra.admin.schemas import (
    Budget,
    BudgetCreate,
    BudgetList,
    BudgetPeriod,
    BudgetScope,
    BudgetStatus,
    BudgetUpdate,
    ScopeBudgetStatus,
)
from cerebra.budgets.guard import BudgetGuard
from cerebra.control.rules import BudgetRule
from cerebra.control.tables import cerebra_budgets
from oco.app import AUTH_ERRORS, Responses
from oco.errors import InvalidRequest, NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"])
NOT_FOUND: Responses = {404: {"description": "no such budget"}}
TAKEN: Responses = {409: {"description": "a budget for this scope, id, model and period exists"}}


def _guard(request: Request) -> BudgetGuard:
    return request.app.state.budgets


def _rule(guard: BudgetGuard, budget_id: int) -> BudgetRule:
    for group in guard.rules.current.budgets.values():
        for rule in group:
            if rule.id == budget_id:
                return rule
    raise NotFound(f"budget {budget_id} not found")


@router.post(
    "",
    status_code=201,
    response_model=Budget,
    summary="Create a budget: a limit in USD per period for a key, team, org or agent",
    responses={**AUTH_ERRORS, **TAKEN},
)
async def create_budget(body: BudgetCreate, actor: Admin, service: Service) -> Budget:
    values = body.model_dump()
    values["thresholds"] = [str(t) for t in values["thresholds"]]
    return Budget.from_row(await service.create_rule(cerebra_budgets, "budget", values, actor))


@router.get("", response_model=BudgetList, summary="List budgets", responses=AUTH_ERRORS)
async def list_budgets(
    _: Admin,
    service: Service,
    page: Pagination,
    scope: Annotated[BudgetScope | None, Query()] = None,
    scope_id: Annotated[str | None, Query(max_length=200)] = None,
) -> BudgetList:
    rows, total = await service.rule_page(cerebra_budgets, page, scope=scope, scope_id=scope_id)
    return BudgetList(
        items=[Budget.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/status",
    response_model=ScopeBudgetStatus,
    summary="Spent, reserved and remaining of a scope's budgets in their current period",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def scope_status(
    request: Request,
    _: Admin,
    scope: Annotated[BudgetScope, Query()],
    scope_id: Annotated[str, Query(min_length=1, max_length=200)],
    model: Annotated[str | None, Query(max_length=200)] = None,
    period: Annotated[BudgetPeriod | None, Query()] = None,
) -> ScopeBudgetStatus:
    guard = _guard(request)
    rules = [
        r
        for r in guard.rules.current.budgets.get((scope, scope_id), ())
        if (model is None or r.model == model) and (period is None or r.period == period)
    ]
    if not rules:
        raise NotFound(f"no budget for {scope} {scope_id}")
    states = [BudgetStatus.from_state(await guard.status(r)) for r in sorted(rules, key=lambda r: r.id)]
    tightest = min(states, key=lambda s: float(s.remaining_usd))
    return ScopeBudgetStatus(**tightest.model_dump(), budgets=states)


@router.get(
    "/{budget_id}", response_model=Budget, summary="One budget", responses={**AUTH_ERRORS, **NOT_FOUND}
)
async def get_budget(budget_id: RowIdPath, _: Admin, service: Service) -> Budget:
    row = await service.get_rule(cerebra_budgets, budget_id)
    if row is None:
        raise NotFound(f"budget {budget_id} not found")
    return Budget.from_row(row)


@router.get(
    "/{budget_id}/status",
    response_model=BudgetStatus,
    summary="One budget's current period",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def budget_status(budget_id: RowIdPath, request: Request, _: Admin) -> BudgetStatus:
    guard = _guard(request)
    return BudgetStatus.from_state(await guard.status(_rule(guard, budget_id)))


@router.patch(
    "/{budget_id}",
    response_model=Budget,
    summary="Change a budget's limit, thresholds or webhook (thresholds alert anew)",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def update_budget(
    budget_id: RowIdPath, body: BudgetUpdate, request: Request, actor: Admin, service: Service
) -> Budget:
    try:
        changes = body.changes()
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=str(exc).split(" ", 1)[0]) from None
    row = await service.update_rule(cerebra_budgets, "budget", budget_id, changes, actor)
    if row is None:
        raise NotFound(f"budget {budget_id} not found")
    if "limit_usd" in changes or "thresholds" in changes:
        await _guard(request).forget_alerts(budget_id)
    return Budget.from_row(row)


@router.delete(
    "/{budget_id}", status_code=204, summary="Delete a budget", responses={**AUTH_ERRORS, **NOT_FOUND}
)
async def delete_budget(budget_id: RowIdPath, request: Request, actor: Admin, service: Service) -> Response:
    if not await service.delete_rule(cerebra_budgets, "budget", budget_id, actor):
        raise NotFound(f"budget {budget_id} not found")
    await _guard(request).forget_alerts(budget_id)
    return Response(status_code=204)
