"""Routes of the admin API (scope `admin`): /api/v1/keys, /api/v1/teams, /api/v1/orgs, /api/v1/audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from cerebra.admin.schemas import (
    AuditEntry,
    AuditList,
    CreatedKey,
    Key,
    KeyCreate,
    KeyList,
    KeyUpdate,
    Org,
    OrgCreate,
    OrgList,
    Team,
    TeamCreate,
    TeamList,
)
from cerebra.admin.service import AdminService
from cerebra.admin.tables import cerebra_orgs, cerebra_teams
from oco.app import AUTH_ERRORS, Responses
from oco.auth import Principal, require_scope
from oco.errors import InvalidRequest, NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1", tags=["admin"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]
NamePath = Annotated[str, Path(min_length=1, max_length=200)]
KEY_NOT_FOUND: Responses = {404: {"description": "no such key (or, for PATCH and DELETE, it is revoked)"}}


def admin_service(request: Request) -> AdminService:
    return request.app.state.admin


Service = Annotated[AdminService, Depends(admin_service)]


@router.post(
    "/keys",
    status_code=201,
    response_model=CreatedKey,
    summary="Create a key (shown once)",
    responses=AUTH_ERRORS,
)
async def create_key(body: KeyCreate, actor: Admin, service: Service) -> CreatedKey:
    created = await service.create_key(body.model_dump(), actor)
    row = await service.get_key(created.id)
    assert row is not None
    return CreatedKey(**Key.from_row(row).model_dump(), key=created.plaintext)


@router.get(
    "/keys", response_model=KeyList, summary="List keys (metadata only, by id)", responses=AUTH_ERRORS
)
async def list_keys(_: Admin, service: Service, page: Pagination) -> KeyList:
    rows, total = await service.key_page(page)
    return KeyList(items=[Key.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/keys/{key_id}", response_model=Key, summary="One key", responses={**AUTH_ERRORS, **KEY_NOT_FOUND}
)
async def get_key(key_id: RowIdPath, _: Admin, service: Service) -> Key:
    row = await service.get_key(key_id)
    if row is None:
        raise NotFound(f"key {key_id} not found")
    return Key.from_row(row)


@router.patch(
    "/keys/{key_id}",
    response_model=Key,
    summary="Change a key's name, scopes, team, org, models or expiry (only the fields sent)",
    responses={**AUTH_ERRORS, **KEY_NOT_FOUND},
)
async def update_key(key_id: RowIdPath, body: KeyUpdate, actor: Admin, service: Service) -> Key:
    try:
        changes = body.changes()
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=str(exc).split(" ", 1)[0]) from None
    row = await service.update_key(key_id, changes, actor)
    if row is None or row.get("revoked_at") is not None:
        raise NotFound(f"key {key_id} not found or revoked")
    return Key.from_row(row)


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Revoke a key (its row stays, for the log and the audit)",
    responses={**AUTH_ERRORS, **KEY_NOT_FOUND},
)
async def revoke_key(key_id: RowIdPath, actor: Admin, service: Service) -> Response:
    if not await service.revoke_key(key_id, actor):
        raise NotFound(f"key {key_id} not found or already revoked")
    return Response(status_code=204)


@router.post("/teams", status_code=201, response_model=Team, summary="Create a team", responses=AUTH_ERRORS)
async def create_team(body: TeamCreate, actor: Admin, service: Service) -> Team:
    return Team(**await service.create_team(body.model_dump(), actor))


@router.get("/teams", response_model=TeamList, summary="List teams (by name)", responses=AUTH_ERRORS)
async def list_teams(_: Admin, service: Service, page: Pagination) -> TeamList:
    rows, total = await service.page(cerebra_teams, page)
    return TeamList(items=[Team(**r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/teams/{name}", response_model=Team, summary="One team", responses=AUTH_ERRORS)
async def get_team(name: NamePath, _: Admin, service: Service) -> Team:
    row = await service.get(cerebra_teams, name)
    if row is None:
        raise NotFound(f"team {name!r} not found")
    return Team(**row)


@router.post("/orgs", status_code=201, response_model=Org, summary="Create an org", responses=AUTH_ERRORS)
async def create_org(body: OrgCreate, actor: Admin, service: Service) -> Org:
    return Org(**await service.create_org(body.model_dump(), actor))


@router.get("/orgs", response_model=OrgList, summary="List orgs (by name)", responses=AUTH_ERRORS)
async def list_orgs(_: Admin, service: Service, page: Pagination) -> OrgList:
    rows, total = await service.page(cerebra_orgs, page)
    return OrgList(items=[Org(**r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/orgs/{name}", response_model=Org, summary="One org", responses=AUTH_ERRORS)
async def get_org(name: NamePath, _: Admin, service: Service) -> Org:
    row = await service.get(cerebra_orgs, name)
    if row is None:
        raise NotFound(f"org {name!r} not found")
    return Org(**row)


@router.get(
    "/audit", response_model=AuditList, summary="Admin writes, newest first: who, when, what, before/after"
)
async def list_audit(
    _: Admin,
    service: Service,
    page: Pagination,
    entity: Annotated[str | None, Query(max_length=60, description="key, team, org, ...")] = None,
    entity_id: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditList:
    rows, total = await service.audit_page(entity, entity_id, page)
    return AuditList(items=[AuditEntry(**r) for r in rows], total=total, limit=page.limit, offset=page.offset)
