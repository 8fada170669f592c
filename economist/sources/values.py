"""Value parsing shared by the adapters: money/quantities as Decimal (never via float text), UTC datetimes,
tags, and FOCUS enum values folded to the spec's canonical spelling. Parsers raise ValueError with a short
message; the adapter turns it into a SourceRowError with file, line and column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

NULL_TEXTS = frozenset({"", "null", "none", "nan", "n/a"})
# exact spellings checked first on the hot path (before any strip/lower)
_NULL_EXACT = frozenset({"", "NULL", "null", "Null", "None", "none", "NaN", "nan", "N/A", "n/a"})
_MAX_SHOWN = 40
#: money and quantities must be below this in magnitude: the range of the ledger's NUMERIC(30, 12) columns
#: (PostgreSQL refuses larger values at COPY time, SQLite would store them; both now stop at the parser)
MAX_AMOUNT = Decimal(10) ** 18
NUL = "\x00"


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "...")


def is_null(value: Any) -> bool:
    """None, an empty string or a literal NULL (any case, surrounding whitespace ignored)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in NULL_TEXTS
    return False


def to_decimal(value: Any) -> Decimal | None:
    """A Decimal parsed from the source text (scientific notation accepted); None for null; ValueError else,
    also for a magnitude of MAX_AMOUNT (1e18) or more, which the ledger's NUMERIC columns cannot hold.

    A float can only come from a typed source (Parquet double, JSON number): it is converted through its
    shortest round-trip repr, i.e. exactly the digits a CSV writer would have written.
    """
    result = _parse_decimal(value)
    if result is not None and not -MAX_AMOUNT < result < MAX_AMOUNT:
        raise ValueError(f"out of range (the magnitude must be below 1e18): {_shown(str(value).strip())}")
    return result


def _parse_decimal(value: Any) -> Decimal | None:
    if value.__class__ is str and value not in _NULL_EXACT and "_" not in value:  # the hot path
        try:
            result = Decimal(value)
        except InvalidOperation:
            if value.strip().lower() in NULL_TEXTS:
                return None
            raise ValueError(f"not a number: {_shown(value.strip())}") from None
        if not result.is_finite():
            if value.strip().lower() in NULL_TEXTS:  # 'NaN' with spaces around: pandas' null
                return None
            raise ValueError(f"not a finite number: {_shown(value.strip())}")
        return result
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in NULL_TEXTS:
            return None
        if "_" in text:
            raise ValueError(f"not a number: {_shown(text)}")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a number: {_shown(text)}") from None
    elif value is None:
        return None
    else:
        raise ValueError(f"not a number: {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {_shown(str(value))}")
    return result


def to_datetime(value: Any) -> datetime | None:
    """A tz-aware UTC datetime from ISO 8601 (Z, offsets, 'YYYY-MM-DD HH:MM:SS' taken as UTC) or a date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a date/time: {type(value).__name__}")
    return _parse_datetime_text(value)


@lru_cache(maxsize=8192)
def _parse_datetime_text(value: str) -> datetime | None:
    """Cached: billing files repeat the same period bounds on thousands of rows."""
    text = value.strip()
    if text.lower() in NULL_TEXTS:
        return None
    candidate = text
    if candidate.endswith((" UTC", " GMT")):
        candidate = candidate[:-4]
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date/time: {_shown(text)}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _no_nul(text: str) -> str:
    if NUL in text:
        raise ValueError("contains a NUL byte (\\x00), which text columns cannot store")
    return text


def to_str(value: Any) -> str | None:
    """Stripped text; None for null; ValueError for text with a NUL byte."""
    if value.__class__ is str:  # the hot path
        text = value.strip()
        return None if text in _NULL_EXACT else _no_nul(text)
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return None if text.lower() in NULL_TEXTS else _no_nul(text)


def to_currency(value: Any) -> str | None:
    """A currency code (BillingCurrency) upper-cased: `usd` and `USD` are one currency."""
    text = to_str(value)
    return None if text is None else text.upper()


def tag_value_text(value: Any) -> str:
    """A tag value as text: strings as they are, numbers/booleans in JSON spelling, null as ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, default=str)


def to_tags(value: Any) -> dict[str, str]:
    """Tags as a dict of str: a JSON object string, a mapping, or a list of (key, value) / {key, value}."""
    if value is None:
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in NULL_TEXTS or text == "{}":
            return {}
        try:
            value = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError:
            raise ValueError(f"not a JSON object: {_shown(text)}") from None
        if not isinstance(value, dict):
            raise ValueError(f"not a JSON object: {_shown(text)}")
    if isinstance(value, Mapping):
        return _checked_tags({str(k): tag_value_text(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        tags: dict[str, str] = {}
        for item in value:
            if isinstance(item, Mapping) and "key" in item:
                tags[str(item["key"])] = tag_value_text(item.get("value"))
            elif isinstance(item, list | tuple) and len(item) == 2:
                tags[str(item[0])] = tag_value_text(item[1])
            else:
                raise ValueError("not a list of key/value pairs")
        return _checked_tags(tags)
    raise ValueError(f"not a tag map: {type(value).__name__}")


def _checked_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags whose keys and values hold no NUL byte (PostgreSQL's JSONB cannot store \\u0000)."""
    for key, value in tags.items():
        if NUL in key or NUL in value:
            raise ValueError(f"tag {_shown(key.replace(NUL, '?'))} contains a NUL byte (\\x00)")
    return tags


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) holding moment: [first day 00:00, first day of next month 00:00)."""
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + (moment.month == 12), moment.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def day_start(day: date) -> datetime:
    """Midnight UTC of a date."""
    return datetime.combine(day, time(0), tzinfo=UTC)


ONE_DAY = timedelta(days=1)


def _enum(*values: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical in values:
        table[canonical] = canonical
        table[canonical.lower()] = canonical
        table[canonical.lower().replace("-", "").replace(" ", "")] = canonical
    return table


#: Ledger column -> {folded spelling: the FOCUS spec's canonical spelling}. Unknown values pass unchanged.
CANONICAL_ENUMS: dict[str, dict[str, str]] = {
    "charge_category": _enum("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
    "charge_class": _enum("Correction"),
    "charge_frequency": _enum("One-Time", "Recurring", "Usage-Based"),
    "commitment_discount_status": _enum("Used", "Unused"),
    "commitment_discount_category": _enum("Spend", "Usage"),
    "pricing_category": _enum("Standard", "Dynamic", "Committed", "Other"),
    "service_category": _enum(
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    ),
}


def canonical_enum(column: str, value: str | None) -> str | None:
    """value in the spec's canonical case for an enum column ('Usage-based' -> 'Usage-Based')."""
    if value is None:
        return None
    table = CANONICAL_ENUMS.get(column)
    if table is None:
        return value
    canonical = table.get(value)
    if canonical is not None:
        return canonical
    folded = value.strip().lower()
    return table.get(folded) or table.get(folded.replace("-", "").replace(" ", "")) or value
