"""Routes of /api/v1/dr: plans (CRUD), their compliance status, drills, failover and failback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from aegis.dr.runs import RunService
from aegis.dr.schemas import (
    DrillRequest,
    Plan,
    PlanCreate,
    PlanPage,
    PlanStatus,
    PlanUpdate,
    Run,
    RunbookRequest,
    RunPage,
)
from aegis.dr.service import PlanService
from oco.app import AUTH_ERRORS, Responses
from oco.auth import Principal, require_scope
from oco.errors import InvalidRequest, NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1/dr", tags=["disaster recovery"])
Caller = Annotated[Principal, Depends(require_scope("aegis"))]


def plan_service(request: Request) -> PlanService:
    return request.app.state.dr_plans


def run_service(request: Request) -> RunService:
    return request.app.state.dr_runs


Plans = Annotated[PlanService, Depends(plan_service)]
Runs = Annotated[RunService, Depends(run_service)]
NOT_FOUND: Responses = {404: {"description": "no such plan (or run)"}}
INVALID: Responses = {
    422: {"description": "invalid body; unknown cluster, storage location or schedule (the field is named)"}
}
BUSY: Responses = {
    409: {
        "description": "a run of the same kind is in progress on the plan, or the plan is on the other side"
    }
}


async def _plan(plans: PlanService, plan_id: int) -> dict[str, Any]:
    plan = await plans.get(plan_id)
    if plan is None:
        raise NotFound(f"DR plan {plan_id} not found")
    return plan


@router.post(
    "/plans",
    status_code=201,
    response_model=Plan,
    summary="Create a DR plan (with backup_schedule, the plan creates and owns a backup schedule)",
    responses={**AUTH_ERRORS, **INVALID, 409: {"description": "the name is taken"}},
)
async def create_plan(body: PlanCreate, principal: Caller, plans: Plans) -> Plan:
    values = body.model_dump()
    return Plan.from_row(await plans.create(values, created_by=principal.name))


@router.get("/plans", response_model=PlanPage, summary="List DR plans by name", responses=AUTH_ERRORS)
async def list_plans(_: Caller, plans: Plans, page: Pagination) -> PlanPage:
    rows, total = await plans.page(page)
    return PlanPage(items=[Plan.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/plans/{plan_id}", response_model=Plan, summary="One DR plan", responses={**AUTH_ERRORS, **NOT_FOUND}
)
async def get_plan(plan_id: RowIdPath, _: Caller, plans: Plans) -> Plan:
    return Plan.from_row(await _plan(plans, plan_id))


@router.patch(
    "/plans/{plan_id}",
    response_model=Plan,
    summary="Change a DR plan (only the fields sent)",
    responses={**AUTH_ERRORS, **NOT_FOUND, **INVALID},
)
async def update_plan(plan_id: RowIdPath, body: PlanUpdate, _: Caller, plans: Plans) -> Plan:
    try:
        changes = body.changes()
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="schedule_id") from None
    plan = await plans.update(plan_id, changes)
    if plan is None:
        raise NotFound(f"DR plan {plan_id} not found")
    return Plan.from_row(plan)


@router.delete(
    "/plans/{plan_id}",
    status_code=204,
    summary="Delete a DR plan, its run history and the schedule it owns (backups stay)",
    responses={**AUTH_ERRORS, **NOT_FOUND, **BUSY},
)
async def delete_plan(plan_id: RowIdPath, _: Caller, plans: Plans) -> Response:
    if not await plans.delete(plan_id):
        raise NotFound(f"DR plan {plan_id} not found")
    return Response(status_code=204)


@router.get(
    "/plans/{plan_id}/status",
    response_model=PlanStatus,
    summary="Compliance now: achieved RPO against the target, the newest drill's RTO (remediates when asked)",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def plan_status(plan_id: RowIdPath, _: Caller, plans: Plans) -> PlanStatus:
    return PlanStatus(**await plans.status(await _plan(plans, plan_id)))


@router.post(
    "/plans/{plan_id}/drills",
    status_code=202,
    response_model=Run,
    summary="Start a drill: restore the newest good backup into drill namespaces of the target, wait, clean up",
    responses={**AUTH_ERRORS, **NOT_FOUND, **BUSY},
)
async def start_drill(
    plan_id: RowIdPath, principal: Caller, plans: Plans, runs: Runs, body: DrillRequest | None = None
) -> Run:
    plan = await _plan(plans, plan_id)
    record = await runs.start_drill(plan, keep=(body or DrillRequest()).keep, created_by=principal.name)
    return Run.from_row(record)


@router.get(
    "/plans/{plan_id}/drills",
    response_model=RunPage,
    summary="A plan's drills, newest first",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def list_drills(plan_id: RowIdPath, _: Caller, plans: Plans, runs: Runs, page: Pagination) -> RunPage:
    await _plan(plans, plan_id)
    rows, total = await runs.page(plan_id, ("drill",), page)
    return RunPage(items=[Run.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


async def _run(runs: RunService, plan_id: int, run_id: int, kinds: tuple[str, ...]) -> Run:
    record = await runs.get(run_id)
    if record is None or record["plan_id"] != plan_id or record["kind"] not in kinds:
        raise NotFound(f"run {run_id} of DR plan {plan_id} not found")
    return Run.from_row(record)


@router.get(
    "/plans/{plan_id}/drills/{run_id}",
    response_model=Run,
    summary="One drill with its steps, timings and failed checks",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def get_drill(plan_id: RowIdPath, run_id: RowIdPath, _: Caller, runs: Runs) -> Run:
    return await _run(runs, plan_id, run_id, ("drill",))


@router.get(
    "/plans/{plan_id}/runbooks",
    response_model=RunPage,
    summary="A plan's failovers and failbacks, newest first",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def list_runbooks(plan_id: RowIdPath, _: Caller, plans: Plans, runs: Runs, page: Pagination) -> RunPage:
    await _plan(plans, plan_id)
    rows, total = await runs.page(plan_id, ("failover", "failback"), page)
    return RunPage(items=[Run.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/plans/{plan_id}/runbooks/{run_id}",
    response_model=Run,
    summary="One failover or failback with its steps",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def get_runbook(plan_id: RowIdPath, run_id: RowIdPath, _: Caller, runs: Runs) -> Run:
    return await _run(runs, plan_id, run_id, ("failover", "failback"))


async def _runbook(
    kind: str,
    plan_id: int,
    body: RunbookRequest | None,
    principal: Principal,
    plans: PlanService,
    runs: RunService,
    response: Response,
) -> Run:
    plan = await _plan(plans, plan_id)
    options = (body or RunbookRequest()).model_dump()
    record = await runs.start_runbook(plan, kind, options, created_by=principal.name)
    if options["dry_run"]:
        response.status_code = 200
    return Run.from_row(record)


@router.post(
    "/plans/{plan_id}/failover",
    status_code=202,
    response_model=Run,
    summary="Fail the plan over to its target cluster (a recorded runbook; dry_run lists what it would do)",
    responses={**AUTH_ERRORS, **NOT_FOUND, **BUSY, 200: {"description": "dry run: the steps and objects"}},
)
async def failover(
    plan_id: RowIdPath,
    principal: Caller,
    plans: Plans,
    runs: Runs,
    response: Response,
    body: RunbookRequest | None = None,
) -> Run:
    return await _runbook("failover", plan_id, body, principal, plans, runs, response)


@router.post(
    "/plans/{plan_id}/failback",
    status_code=202,
    response_model=Run,
    summary="Fail the plan back to its source cluster from a fresh backup of the target",
    responses={**AUTH_ERRORS, **NOT_FOUND, **BUSY, 200: {"description": "dry run: the steps and objects"}},
)
async def failback(
    plan_id: RowIdPath,
    principal: Caller,
    plans: Plans,
    runs: Runs,
    response: Response,
    body: RunbookRequest | None = None,
) -> Run:
    return await _runbook("failback", plan_id, body, principal, plans, runs, response)
