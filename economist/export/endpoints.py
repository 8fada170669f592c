"""Route of the FOCUS export: GET /api/v1/costs/export (the ledger as FOCUS 1.2 rows, streamed)."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from economist.costs.params import parse_filter, window
from economist.export.service import ExportFormat, ExportQuery, ExportService
from economist.settings import EconomistSettings
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.timeutil import utcnow

router = APIRouter(prefix="/api/v1/costs", tags=["costs"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]


def export_service(request: Request) -> ExportService:
    return ExportService(request.app.state.database)


Service = Annotated[ExportService, Depends(export_service)]


@router.get(
    "/export",
    summary="The ledger as FOCUS 1.2 rows (CSV or Parquet), streamed; ingesting the file gives the same totals",
    response_class=StreamingResponse,
    responses={
        **AUTH_ERRORS,
        200: {
            "description": "the FOCUS file",
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
        },
        400: {"description": "a parameter cannot be understood (`param` names it)"},
    },
)
async def export_focus(
    request: Request,
    _: Caller,
    service: Service,
    start: Annotated[
        date | None, Query(alias="from", description="first charge day (UTC), default: 30 days before `to`")
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="day after the last (exclusive), default: tomorrow")
    ] = None,
    format: ExportFormat = "csv",  # noqa: A002
    filter: Annotated[  # noqa: A002
        str | None, Query(max_length=2000, description="like GET /api/v1/costs: provider:AWS,tag:env=prod")
    ] = None,
) -> StreamingResponse:
    settings: EconomistSettings = request.app.state.settings
    first, last = window(start, end, utcnow().date())
    query = ExportQuery(first, last, parse_filter(filter, settings.tag_normalizer), format)
    return StreamingResponse(
        service.stream(query),
        media_type=service.media_type(query),
        headers={"Content-Disposition": f'attachment; filename="{service.file_name(query)}"'},
    )
