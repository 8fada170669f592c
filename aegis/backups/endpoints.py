"""Routes of /api/v1/backups: start (202, runs in the background), list, read with progress, delete,
the archive's contents, and the archive itself (streamed)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from aegis.backups.schemas import Backup, BackupContents, BackupCreate, BackupPage, ContentItem, Phase
from aegis.backups.service import BackupService
from oco.app import AUTH_ERRORS, Responses
from oco.auth import Principal, require_scope
from oco.errors import NotFound
from oco.pagination import Pagination
from oco.params import RowIdPath, RowIdQuery

router = APIRouter(prefix="/api/v1/backups", tags=["backups"])
Caller = Annotated[Principal, Depends(require_scope("aegis"))]
DOWNLOAD_CHUNK = 1024 * 1024


def backup_service(request: Request) -> BackupService:
    return request.app.state.backups


Service = Annotated[BackupService, Depends(backup_service)]
NOT_FOUND: Responses = {404: {"description": "no such backup"}}
NO_ARCHIVE: Responses = {
    409: {
        "description": "the backup has no readable archive (running, failed, deleted, missing or corrupt), or"
        " the key id it names is not configured (encryption_key_unknown)"
    },
    502: {"description": "the storage location did not answer"},
}


async def _record(service: BackupService, backup_id: int) -> dict[str, Any]:
    record = await service.get(backup_id)
    if record is None:
        raise NotFound(f"backup {backup_id} not found")
    return record


@router.post(
    "",
    status_code=202,
    response_model=Backup,
    summary="Start a backup now (runs in the background; poll GET /api/v1/backups/{id})",
    responses={
        **AUTH_ERRORS,
        409: {
            "description": "the cluster is unreachable (cluster_unreachable), encryption is required but no"
            " key is configured, or the name is taken"
        },
        422: {"description": "invalid body, unknown cluster or storage location"},
    },
)
async def start_backup(body: BackupCreate, principal: Caller, service: Service) -> Backup:
    request = {
        "cluster": body.cluster,
        "storage_location": body.storage_location,
        "ttl_hours": body.ttl_hours,
        **body.selection(),
    }
    record = await service.start(request, created_by=principal.name, name=body.name)
    return Backup.from_row(record)


@router.get("", response_model=BackupPage, summary="List backups, newest first", responses=AUTH_ERRORS)
async def list_backups(
    _: Caller,
    service: Service,
    page: Pagination,
    phase: Phase | None = None,
    cluster: Annotated[str | None, Query(max_length=200)] = None,
    schedule_id: RowIdQuery = None,
) -> BackupPage:
    records, total = await service.list(page, phase=phase, cluster=cluster, schedule_id=schedule_id)
    return BackupPage(
        items=[Backup.from_row(r) for r in records], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{backup_id}",
    response_model=Backup,
    summary="One backup: phase, progress (items_done/items_total), errors, size, SHA-256",
    responses={**AUTH_ERRORS, **NOT_FOUND},
)
async def get_backup(backup_id: RowIdPath, _: Caller, service: Service) -> Backup:
    return Backup.from_row(await _record(service, backup_id))


@router.delete(
    "/{backup_id}",
    response_model=Backup,
    summary="Delete a backup's archive from storage and mark it Deleted",
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND,
        409: {
            "description": "the backup is running or being restored, or an S3 Object Lock retention still"
            " holds its archive (archive_locked: nothing was deleted)"
        },
        502: {"description": "the storage location did not answer (nothing was marked)"},
    },
)
async def delete_backup(backup_id: RowIdPath, _: Caller, service: Service) -> Backup:
    record = await service.delete(backup_id)
    if record is None:
        raise NotFound(f"backup {backup_id} not found")
    return Backup.from_row(record)


@router.get(
    "/{backup_id}/contents",
    response_model=BackupContents,
    summary="The resources in a backup (kind, namespace, name), read from the archive's index",
    responses={**AUTH_ERRORS, **NOT_FOUND, **NO_ARCHIVE},
)
async def backup_contents(backup_id: RowIdPath, _: Caller, service: Service) -> BackupContents:
    record = await _record(service, backup_id)
    contents = await service.contents(record)
    items = [
        ContentItem(resource=i.resource, group=i.group, kind=i.kind, namespace=i.namespace, name=i.name)
        for i in contents.items
    ]
    counts = contents.metadata.get("counts") or {}
    return BackupContents(
        backup_id=record["id"], name=record["name"], total=len(items), counts=counts, items=items
    )


@router.get(
    "/{backup_id}/download",
    summary="The stored archive (tar.gz, or its encrypted form), streamed; X-Aegis-SHA256 is its checksum",
    response_class=StreamingResponse,
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND,
        **NO_ARCHIVE,
        200: {"content": {"application/octet-stream": {}}, "description": "the archive bytes as stored"},
    },
)
async def download_backup(backup_id: RowIdPath, _: Caller, service: Service) -> StreamingResponse:
    record = await _record(service, backup_id)
    stream = await service.open_archive(record)
    filename = record["storage_key"].rsplit("/", 1)[-1] + (".aegisenc" if record["encrypted"] else "")
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Aegis-SHA256": record["sha256"] or "",
    }
    if record["size_bytes"]:
        headers["Content-Length"] = str(record["size_bytes"])
    media_type = "application/octet-stream" if record["encrypted"] else "application/gzip"
    return StreamingResponse(_chunks(stream), media_type=media_type, headers=headers)


async def _chunks(stream: BinaryIO) -> AsyncIterator[bytes]:
    """Read the storage stream in a worker thread one chunk at a time: never the whole archive in memory."""
    try:
        while chunk := await asyncio.to_thread(stream.read, DOWNLOAD_CHUNK):
            yield chunk
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(stream.close)
