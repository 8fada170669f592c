"""Routes of /api/v1/notifications: the delivery log of economist's webhooks."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from economist.notifications.schemas import DeliveryPage
from oco.app import AUTH_ERRORS
from oco.auth import Principal, require_scope
from oco.notify import Notifier
from oco.pagination import Pagination

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
Caller = Annotated[Principal, Depends(require_scope("economist"))]


def notifier(request: Request) -> Notifier:
    return request.app.state.notifier


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    summary="Webhook deliveries, newest first, with each attempt (status, HTTP code, error, duration)",
    responses=AUTH_ERRORS,
)
async def list_deliveries(
    _: Caller,
    service: Annotated[Notifier, Depends(notifier)],
    page: Pagination,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    event: Annotated[str | None, Query(max_length=100)] = None,
    url: Annotated[str | None, Query(max_length=2000)] = None,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
) -> DeliveryPage:
    rows, total = await service.list(page, status=status, event=event, url=url, since=since)
    return DeliveryPage(items=rows, total=total, limit=page.limit, offset=page.offset)
