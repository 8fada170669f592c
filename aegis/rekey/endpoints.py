"""Routes of /api/v1/rekeys (scope admin): start a rekey run (202; a dry run is complete at once), list, read."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from aegis.rekey.schemas import RekeyCreate, RekeyRun, RekeyRunPage
from aegis.rekey.service import RekeyService
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.errors import NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1/rekeys", tags=["encryption keys"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]


def rekey_service(request: Request) -> RekeyService:
    return request.app.state.rekey


Service = Annotated[RekeyService, Depends(rekey_service)]


@router.post(
    "",
    status_code=202,
    response_model=RekeyRun,
    summary="Re-encrypt archives not on the current key (runs in the background; poll GET /api/v1/rekeys/{id})",
    responses={
        **AUTH_ERRORS,
        409: {
            "description": "no current key is configured (no_current_key), or a rekey runs (rekey_running)"
        },
        422: {"description": "invalid body, unknown storage location"},
    },
)
async def start_rekey(body: RekeyCreate, principal: Admin, service: Service) -> RekeyRun:
    row = await service.start(
        dry_run=body.dry_run,
        include_unencrypted=body.include_unencrypted,
        storage_location=body.storage_location,
        created_by=principal.name,
    )
    return RekeyRun.from_row(row)


@router.get("", response_model=RekeyRunPage, summary="Rekey runs, newest first", responses=AUTH_ERRORS)
async def list_rekeys(_: Admin, service: Service, page: Pagination) -> RekeyRunPage:
    rows, total = await service.list(page)
    return RekeyRunPage(
        items=[RekeyRun.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{run_id}",
    response_model=RekeyRun,
    summary="One rekey run with its progress and per-archive outcomes",
    responses={**AUTH_ERRORS, 404: {"description": "no such rekey run"}},
)
async def get_rekey(run_id: RowIdPath, _: Admin, service: Service) -> RekeyRun:
    row = await service.get(run_id)
    if row is None:
        raise NotFound(f"rekey run {run_id} not found")
    return RekeyRun.from_row(row)
