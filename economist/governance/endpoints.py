"""Routes of /api/v1/governance: policies (CRUD, evaluate now or as a dry run) and their violations."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from economist.governance.schemas import (
    Evaluation,
    Policy,
    PolicyIn,
    PolicyPage,
    PolicyPatch,
    PolicyType,
    Severity,
    Violation,
    ViolationPage,
    ViolationPatch,
)
from economist.governance.service import GovernanceService
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.errors import NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath, RowIdQuery

router = APIRouter(prefix="/api/v1/governance", tags=["governance"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such policy"}}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "an invalid field (named in `param`)"},
    409: {"description": "the name is taken"},
}


def governance_service(request: Request) -> GovernanceService:
    return request.app.state.governance


Service = Annotated[GovernanceService, Depends(governance_service)]


def _evaluation(result: dict[str, Any]) -> Evaluation:
    return Evaluation(
        **{k: v for k, v in result.items() if k not in ("opened", "resolved")},
        opened=[v["resource"] for v in result["opened"]],
        resolved=[v["resource"] for v in result["resolved"]],
    )


@router.post(
    "/policies",
    status_code=201,
    response_model=Policy,
    summary="Create a policy (validated per type; enabled by default)",
    responses={**AUTH_ERRORS, **INVALID},
)
async def create_policy(body: PolicyIn, _: Caller, service: Service) -> dict[str, Any]:
    return await service.create_policy(body.model_dump())


@router.get("/policies", response_model=PolicyPage, summary="List policies", responses=AUTH_ERRORS)
async def list_policies(
    _: Caller,
    service: Service,
    page: Pagination,
    type_: Annotated[PolicyType | None, Query(alias="type")] = None,
    enabled: bool | None = None,
) -> PolicyPage:
    rows, total = await service.list_policies(page, type_=type_, enabled=enabled)
    return PolicyPage(items=rows, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/policies/{policy_id}",
    response_model=Policy,
    summary="One policy",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def get_policy(policy_id: RowIdPath, _: Caller, service: Service) -> dict[str, Any]:
    policy = await service.get_policy(policy_id)
    if policy is None:
        raise NotFound(f"policy {policy_id} not found")
    return policy


@router.patch(
    "/policies/{policy_id}",
    response_model=Policy,
    summary="Change a policy's fields",
    responses={**AUTH_ERRORS, **NOT_FOUND, **INVALID},
)
async def update_policy(
    policy_id: RowIdPath, body: PolicyPatch, _: Caller, service: Service
) -> dict[str, Any]:
    policy = await service.update_policy(policy_id, body.model_dump(exclude_unset=True))
    if policy is None:
        raise NotFound(f"policy {policy_id} not found")
    return policy


@router.delete(
    "/policies/{policy_id}",
    status_code=204,
    summary="Delete a policy and its violations",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def delete_policy(policy_id: RowIdPath, _: Caller, service: Service) -> Response:
    if not await service.delete_policy(policy_id):
        raise NotFound(f"policy {policy_id} not found")
    return Response(status_code=204)


@router.post(
    "/policies/{policy_id}/evaluate",
    response_model=Evaluation,
    summary="Evaluate a policy now; dry_run=true returns what it would flag without writing",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def evaluate_policy(
    policy_id: RowIdPath, _: Caller, service: Service, dry_run: bool = False
) -> Evaluation:
    result = await service.evaluate(policy_id, dry_run=dry_run)
    if result is None:
        raise NotFound(f"policy {policy_id} not found")
    return _evaluation(result)


@router.get(
    "/violations",
    response_model=ViolationPage,
    summary="List violations, newest first",
    responses=AUTH_ERRORS,
)
async def list_violations(
    _: Caller,
    service: Service,
    page: Pagination,
    policy_id: RowIdQuery = None,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged|suppressed|resolved)$")] = None,
    severity: Severity | None = None,
    resource: Annotated[str | None, Query(max_length=2000)] = None,
    since: Annotated[datetime | None, Query(description="last seen at or after")] = None,
) -> ViolationPage:
    rows, total = await service.list_violations(
        page, policy_id=policy_id, status=status, severity=severity, resource=resource, since=since
    )
    return ViolationPage(items=rows, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/violations/{violation_id}",
    response_model=Violation,
    summary="One violation",
    responses={**AUTH_ERRORS, 404: {"description": "no such violation"}},
)
async def get_violation(violation_id: RowIdPath, _: Caller, service: Service) -> dict[str, Any]:
    violation = await service.get_violation(violation_id)
    if violation is None:
        raise NotFound(f"violation {violation_id} not found")
    return violation


@router.patch(
    "/violations/{violation_id}",
    response_model=Violation,
    summary="Acknowledge, suppress (reason + expires_at) or reopen a violation",
    responses={
        **AUTH_ERRORS,
        404: {"description": "no such violation"},
        409: {"description": "the violation is resolved"},
        422: {"description": "a suppression without reason or future expiry"},
    },
)
async def update_violation(
    violation_id: RowIdPath, body: ViolationPatch, caller: Caller, service: Service
) -> dict[str, Any]:
    violation = await service.update_violation(
        violation_id, body.status, by=caller.name, reason=body.reason, expires_at=body.expires_at
    )
    if violation is None:
        raise NotFound(f"violation {violation_id} not found")
    return violation
