"""Response models of the delivery log API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from oco.pagination import Page


class Attempt(BaseModel):
    attempt: int
    at: datetime
    outcome: Literal["succeeded", "failed"]
    http_status: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    """One webhook: where, what, its status, and every attempt (the signature secret is never shown)."""

    id: int
    url: str
    event: str
    payload: dict[str, Any]
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_http_status: int | None
    last_error: str | None
    attempt_log: list[Attempt]
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class DeliveryPage(Page[Delivery]):
    pass
