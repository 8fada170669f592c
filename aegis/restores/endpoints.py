"""Routes of /api/v1/restores: start (202, runs in the background), list, read with per-item results."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from aegis.backups.schemas import Phase
from aegis.restores.schemas import ItemWindow, Outcome, Restore, RestoreCreate, RestorePage
from aegis.restores.service import RestoreService
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.errors import NotFound
from oco.pagination import MAX_OFFSET, Pagination
from oco.params import RowIdPath, RowIdQuery

router = APIRouter(prefix="/api/v1/restores", tags=["restores"])
Caller = Annotated[Principal, Depends(require_scope("aegis"))]


def restore_service(request: Request) -> RestoreService:
    return request.app.state.restores


Service = Annotated[RestoreService, Depends(restore_service)]


@router.post(
    "",
    status_code=202,
    response_model=Restore,
    summary="Start a restore (runs in the background; poll GET /api/v1/restores/{id})",
    responses={
        **AUTH_ERRORS,
        409: {
            "description": "the cluster is unreachable (cluster_unreachable), the backup has no restorable"
            " archive, or it is encrypted and no key is set (encryption_key_missing) or the key id it names is"
            " not configured (encryption_key_unknown)"
        },
        422: {"description": "invalid body, unknown backup or cluster"},
    },
)
async def start_restore(body: RestoreCreate, principal: Caller, service: Service) -> Restore:
    request = body.model_dump(exclude={"name"})
    record = await service.start(request, created_by=principal.name, name=body.name)
    return Restore.from_row(record)


@router.get(
    "",
    response_model=RestorePage,
    summary="List restores, newest first (per-item results only with include_items=true)",
    responses=AUTH_ERRORS,
)
async def list_restores(
    _: Caller,
    service: Service,
    page: Pagination,
    phase: Phase | None = None,
    backup_id: RowIdQuery = None,
    cluster: Annotated[str | None, Query(max_length=200)] = None,
    include_items: bool = False,
) -> RestorePage:
    records, total = await service.list(page, phase=phase, backup_id=backup_id, cluster=cluster)
    items = [Restore.from_row(r, items=include_items) for r in records]
    return RestorePage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{restore_id}",
    response_model=Restore,
    summary="One restore: phase, progress and results (created/updated/skipped/failed, per item; "
    "?outcome=failed, items_offset and items_limit select items)",
    responses={**AUTH_ERRORS, 404: {"description": "no such restore"}},
)
async def get_restore(
    restore_id: RowIdPath,
    _: Caller,
    service: Service,
    outcome: Annotated[Outcome | None, Query(description="only the items with this outcome")] = None,
    items_offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    items_limit: Annotated[int | None, Query(ge=1, le=100_000, description="at most this many items")] = None,
) -> Restore:
    record = await service.get(restore_id)
    if record is None:
        raise NotFound(f"restore {restore_id} not found")
    return Restore.from_row(record, window=ItemWindow(outcome, items_offset, items_limit))
