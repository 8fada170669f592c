"""Cron arithmetic for schedules (standard 5-field syntax via croniter, in an IANA time zone): validation,
the next fire time, and the fire times a stopped scheduler missed."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

#: Counting missed fire times stops here (a `* * * * *` schedule down for a year would be 525,600).
MAX_COUNTED_FIRES = 10_000


def parse_cron(expression: str) -> str:
    """The expression normalized to single spaces; ValueError unless it is a valid 5-field cron line."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron must have 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    normalized = " ".join(fields)
    if not croniter.is_valid(normalized):
        raise ValueError(f"invalid cron expression {normalized!r}")
    return normalized


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA zone (``Europe/Paris``, ``UTC``); ValueError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as 'Europe/Paris' or 'UTC')"
        ) from None


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after``, in UTC (wall-clock rules of ``timezone``, DST included)."""
    zone = parse_timezone(timezone)
    itr = croniter(expression, after.astimezone(zone))
    return itr.get_next(datetime).astimezone(UTC)


def fires_between(expression: str, timezone: str, first: datetime, now: datetime) -> tuple[int, datetime]:
    """How many fire times lie in ``[first, now]`` (``first`` is one: the schedule's due time) and the
    latest of them; counting stops at MAX_COUNTED_FIRES."""
    zone = parse_timezone(timezone)
    itr = croniter(expression, first.astimezone(zone))
    count, latest = 1, first
    while count < MAX_COUNTED_FIRES:
        candidate = itr.get_next(datetime).astimezone(UTC)
        if candidate > now:
            break
        count, latest = count + 1, candidate
    return count, latest
