"""UTC time helpers: every stored timestamp is timezone-aware UTC (SQLite hands back naive values)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, overload

from pydantic import AfterValidator


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """Treat a naive datetime as UTC; convert an aware one to UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


#: a datetime that always leaves as UTC with its offset (RFC 3339), whatever the database handed back
#: (SQLite gives naive datetimes): for response models
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
