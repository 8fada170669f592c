"""Routes of /api/v1/schedules: create, list, read, change and delete cron schedules of backups."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from aegis.schedules.schemas import Schedule, ScheduleCreate, ScheduleList, ScheduleUpdate
from aegis.schedules.service import ScheduleService
from oco.app import AUTH_ERRORS, Responses
from oco.auth import Principal, require_scope
from oco.errors import NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])
Caller = Annotated[Principal, Depends(require_scope("aegis"))]


def schedule_service(request: Request) -> ScheduleService:
    return request.app.state.schedules


Service = Annotated[ScheduleService, Depends(schedule_service)]
NOT_FOUND: Responses = {404: {"description": "no such schedule"}}
INVALID: Responses = {
    422: {"description": "invalid cron (5 fields), time zone, unknown cluster or storage location"}
}


def _not_found(schedule_id: int) -> NotFound:
    return NotFound(f"schedule {schedule_id} not found")


@router.post(
    "",
    status_code=201,
    response_model=Schedule,
    summary="Create a cron schedule of backups with keep-last-N and TTL retention",
    responses={**AUTH_ERRORS, **INVALID, 409: {"description": "a schedule with this name exists"}},
)
async def create_schedule(body: ScheduleCreate, principal: Caller, service: Service) -> Schedule:
    values = {
        "name": body.name,
        "cron": body.cron,
        "timezone": body.timezone,
        "keep_last": body.keep_last,
        "ttl_hours": body.ttl_hours,
        "enabled": body.enabled,
        "cluster": body.cluster,
        "storage_location": body.storage_location,
        **body.selection(),
    }
    return Schedule.from_row(await service.create(values, created_by=principal.name))


@router.get("", response_model=ScheduleList, summary="List schedules by name", responses=AUTH_ERRORS)
async def list_schedules(_: Caller, service: Service, page: Pagination) -> ScheduleList:
    jobs, total = await service.page(page)
    return ScheduleList(
        items=[Schedule.from_row(j) for j in jobs], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{schedule_id}",
    response_model=Schedule,
    summary="One schedule: next run, last run, last success, missed runs",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def get_schedule(schedule_id: RowIdPath, _: Caller, service: Service) -> Schedule:
    job = await service.get(schedule_id)
    if job is None:
        raise _not_found(schedule_id)
    return Schedule.from_row(job)


@router.patch(
    "/{schedule_id}",
    response_model=Schedule,
    summary='Change a schedule (only the fields sent); pause it with {"enabled": false}',
    responses={**AUTH_ERRORS, **NOT_FOUND, **INVALID},
)
async def update_schedule(
    schedule_id: RowIdPath, body: ScheduleUpdate, _: Caller, service: Service
) -> Schedule:
    job = await service.update(schedule_id, body.changes())
    if job is None:
        raise _not_found(schedule_id)
    return Schedule.from_row(job)


@router.delete(
    "/{schedule_id}",
    status_code=204,
    summary="Delete a schedule (its backups are kept until their own retention)",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def delete_schedule(schedule_id: RowIdPath, _: Caller, service: Service) -> Response:
    if not await service.delete(schedule_id):
        raise _not_found(schedule_id)
    return Response(status_code=204)
