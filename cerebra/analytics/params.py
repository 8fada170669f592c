"""Query parameters of /api/v1/analytics: the time window (`from` inclusive, `to` exclusive, ISO dates or
datetimes, UTC when no offset is given), dimensions and granularity, checked at the edge with errors
that name the field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from oco.errors import BadRequest
from oco.timeutil import utcnow

Granularity = Literal["hour", "day"]
#: group_by / dimension name -> the request-log column it reads
DIMENSIONS: dict[str, str] = {
    "model": "model",
    "provider": "provider",
    "key": "key_id",
    "team": "team_id",
    "org": "org_id",
    "agent": "agent_id",
    "alias": "alias",
}
DEFAULT_DAYS = 7
MAX_WINDOW_DAYS = 400
#: windows over which raw-row scans (latency percentiles, recommendations) may run
MAX_RAW_WINDOW_DAYS = 93
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class AnalyticsQueryError(BadRequest, ValueError):
    """A query parameter that cannot be understood (400); `param` names it."""

    default_code = "invalid_query"

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message, param=param)


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    @property
    def hour_aligned(self) -> bool:
        return all(t.minute == t.second == t.microsecond == 0 for t in (self.start, self.end))

    @property
    def day_aligned(self) -> bool:
        return self.hour_aligned and self.start.hour == self.end.hour == 0


def parse_instant(value: str, param: str) -> datetime:
    """An ISO 8601 date (its midnight, UTC) or datetime (UTC unless it carries an offset)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise AnalyticsQueryError(
            f"{param} must be an ISO 8601 date (2026-01-31) or datetime (2026-01-31T12:00:00Z), got {value!r}"[
                :300
            ],
            param,
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not EARLIEST <= moment <= LATEST:
        raise AnalyticsQueryError(f"{param} must lie between 2000-01-01 and 9000-01-01", param)
    return moment


def parse_window(
    start: str | None,
    end: str | None,
    *,
    default_days: int = DEFAULT_DAYS,
    max_days: int = MAX_WINDOW_DAYS,
    now: datetime | None = None,
) -> Window:
    """`from`/`to` as a window; defaults: `to` = the next full hour from now, `from` = `default_days` before."""
    if end is not None:
        last = parse_instant(end, "to")
    else:
        current = now or utcnow()
        last = current.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    first = parse_instant(start, "from") if start is not None else last - timedelta(days=default_days)
    if first >= last:
        raise AnalyticsQueryError("from must be before to", "from")
    if last - first > timedelta(days=max_days):
        raise AnalyticsQueryError(f"the window from..to may span at most {max_days} days", "from")
    return Window(first, last)


def parse_dimension(value: str | None, param: str, default: str = "model") -> str:
    """One of DIMENSIONS (its public name)."""
    name = (value or default).strip().lower()
    if name not in DIMENSIONS:
        raise AnalyticsQueryError(
            f"{param} must be one of {', '.join(DIMENSIONS)}, got {value!r}"[:300], param
        )
    return name
