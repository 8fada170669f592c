"""Routes of /api/v1/storage-locations: register (after a write/read/delete probe), list, read, delete."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from aegis.locations.schemas import Location, LocationCreate, LocationList
from aegis.locations.service import LocationService
from oco.app import AUTH_ERRORS, Responses
from oco.auth import Principal, require_scope
from oco.errors import NotFound
from oco.pagination import Pagination

router = APIRouter(prefix="/api/v1/storage-locations", tags=["storage locations"])
Caller = Annotated[Principal, Depends(require_scope("aegis"))]


def location_service(request: Request) -> LocationService:
    return request.app.state.locations


Service = Annotated[LocationService, Depends(location_service)]
NOT_FOUND: Responses = {404: {"description": "no such storage location"}}


@router.post(
    "",
    status_code=201,
    response_model=Location,
    summary="Register a storage location (local directory or S3 bucket), validated by a probe",
    responses={
        **AUTH_ERRORS,
        400: {"description": "the location failed its write/read/delete probe (the probe's error)"},
        409: {"description": "a location with this name exists"},
        422: {"description": "invalid body (fields of the other type, credentials, bad name)"},
    },
)
async def create_location(body: LocationCreate, principal: Caller, service: Service) -> Location:
    row = await service.create(body.name, body.type, body.config(), created_by=principal.name)
    return Location.from_row(row)


@router.get("", response_model=LocationList, summary="List storage locations by name", responses=AUTH_ERRORS)
async def list_locations(_: Caller, service: Service, page: Pagination) -> LocationList:
    rows, total = await service.page(page)
    return LocationList(
        items=[Location.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{name}",
    response_model=Location,
    summary="One storage location",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def get_location(name: str, _: Caller, service: Service) -> Location:
    row = await service.get(name)
    if row is None:
        raise NotFound(f"storage location {name!r} not found")
    return Location.from_row(row)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Forget a storage location (its archives are left in place)",
    responses={**AUTH_ERRORS, **NOT_FOUND, 409: {"description": "schedules or backups still use it"}},
)
async def delete_location(name: str, _: Caller, service: Service) -> Response:
    if not await service.delete(name):
        raise NotFound(f"storage location {name!r} not found")
    return Response(status_code=204)
