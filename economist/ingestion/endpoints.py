"""Routes of /api/v1/ingestions: start (202, runs in the background), list, read, and upload (201, synchronous)."""

import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from typing import IO, Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from economist.ingestion.schemas import Ingestion, IngestionPage, IngestionRequest, SourceKind, Status
from economist.ingestion.service import IngestionService
from economist.settings import EconomistSettings
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.errors import BadRequest, NotFound, PayloadTooLarge
from oco.pagination import Pagination
from oco.params import RowIdPath

router = APIRouter(prefix="/api/v1/ingestions", tags=["ingestions"])
#: file parts accepted in one multipart upload (the parts of one export)
MAX_UPLOAD_FILES = 1000
Caller = Annotated[Principal, Depends(require_scope("economist"))]


def ingestion_service(request: Request) -> IngestionService:
    return request.app.state.ingestion


Service = Annotated[IngestionService, Depends(ingestion_service)]


@router.post(
    "",
    status_code=202,
    response_model=Ingestion,
    summary="Start an ingestion (runs in the background; poll GET /api/v1/ingestions/{id})",
    responses={**AUTH_ERRORS, 400: {"description": "bad options, a path outside OCO_ECONOMIST_INGEST_DIRS"}},
)
async def start_ingestion(body: IngestionRequest, principal: Caller, service: Service) -> Ingestion:
    period = (body.period.start, body.period.end) if body.period else None
    record = await service.start(body.source, period, body.options, created_by=principal.name)
    return Ingestion.from_record(record)


@router.get("", response_model=IngestionPage, summary="List ingestions, newest first", responses=AUTH_ERRORS)
async def list_ingestions(
    _: Caller,
    service: Service,
    page: Pagination,
    source: SourceKind | None = None,
    status: Status | None = None,
) -> IngestionPage:
    records, total = await service.list(page, source=source, status=status)
    return IngestionPage(
        items=[Ingestion.from_record(r) for r in records], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{ingestion_id}",
    response_model=Ingestion,
    summary="One ingestion: status, progress, rows, totals, errors",
    responses={**AUTH_ERRORS, 404: {"description": "no such ingestion"}},
)
async def get_ingestion(ingestion_id: RowIdPath, _: Caller, service: Service) -> Ingestion:
    record = await service.get(ingestion_id)
    if record is None:
        raise NotFound(f"ingestion {ingestion_id} not found")
    return Ingestion.from_record(record)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the upload exceeds {limit} bytes (OCO_ECONOMIST_MAX_UPLOAD_BYTES)")


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise _too_large(limit)
        yield chunk


async def _spool_body(request: Request, settings: EconomistSettings) -> list[tuple[IO[bytes], str | None]]:
    """The uploaded files (every file part of a multipart body, or the raw body) spooled to memory/disk, and
    their names."""
    limit = settings.oco_economist_max_upload_bytes
    stream = _limited(request.stream(), limit)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await MultiPartParser(
                request.headers, stream, max_files=MAX_UPLOAD_FILES, max_fields=10
            ).parse()
        except MultiPartException as exc:
            raise BadRequest(f"malformed multipart body: {exc.message}", code="bad_multipart") from None
        uploads = [v for _k, v in form.multi_items() if isinstance(v, UploadFile)]
        if not uploads:
            raise BadRequest("the multipart body has no file part", code="no_file", param="file")
        return [(upload.file, upload.filename) for upload in uploads]
    spooled = tempfile.SpooledTemporaryFile(max_size=settings.oco_economist_upload_spool_bytes)  # noqa: SIM115
    async for chunk in stream:
        spooled.write(chunk)
    spooled.seek(0)
    return [(spooled, None)]


@router.post(
    "/upload",
    status_code=201,
    response_model=Ingestion,
    summary="Upload a billing file, or the parts of one export (multipart `file` parts, or the raw body), and "
    "ingest it now as one load",
    responses={
        **AUTH_ERRORS,
        400: {
            "description": "a row cannot be ingested: file, line and column in `errors`; the ledger is unchanged"
        },
        413: {"description": "larger than OCO_ECONOMIST_MAX_UPLOAD_BYTES"},
        503: {"description": "the ledger database is unreachable (retry later)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                        },
                    }
                },
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def upload(
    request: Request,
    principal: Caller,
    service: Service,
    source: Annotated[
        Literal["focus", "aws_cur", "azure_export"], Query(description="file format")
    ] = "focus",
    filename: Annotated[
        str | None,
        Query(max_length=300, description="the file's name: shown in errors, and its origin (see below)"),
    ] = None,
    replace_key: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=300,
            description="what this upload replaces: only earlier loads with the same key or the same rows "
            "(default: see README, 'What replaces what')",
        ),
    ] = None,
) -> Ingestion:
    settings: EconomistSettings = request.app.state.settings
    limit = settings.oco_economist_max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    sent = await _spool_body(request, settings)
    if filename and len(sent) > 1:
        raise BadRequest(
            "`filename` names a single file; several files carry their own names", param="filename"
        )
    try:
        record = await service.upload(
            [
                (fileobj, filename or sent_name or (f"upload-{index + 1}" if len(sent) > 1 else "upload"))
                for index, (fileobj, sent_name) in enumerate(sent)
            ],
            kind=source,
            created_by=principal.name,
            replace_key=replace_key,
        )
    finally:
        for fileobj, _name in sent:
            fileobj.close()
    return Ingestion.from_record(record)
