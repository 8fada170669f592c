"""The cost query language: dimensions, `group_by` and `filter` syntax, metrics and the time window.

group_by: a comma list of provider, service, account, billing_account, region, resource, charge_category,
  tag:<key> (account = the sub-account when the row has one, else the billing account; billing_account =
  the payer; tag keys are folded like ingested tags, so tag:CostCenter and tag:cost_center are one key;
  the response field keeps the caller's spelling, e.g. "tag:CostCenter").
filter: a comma list of `<dimension>:<value>` (or `<dimension>=<value>`) terms, ANDed; `|` separates alternatives (ORed) within a
  term; tags are `tag:<key>=<value>`. Example: `provider:AWS,service:AmazonEC2|AmazonS3,tag:env=prod`.
  Matching is exact (case-sensitive, after tag folding); a value cannot contain ',' or '|'.
Window: `from` inclusive, `to` exclusive, both calendar days in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from economist.ledger.tags import TAG_KEY_HELP, TagNormalizer, is_valid_tag_key
from oco.errors import BadRequest

Granularity = Literal["day", "week", "month"]
MetricName = Literal["billed", "effective", "list", "contracted"]

DIMENSIONS = ("provider", "service", "account", "billing_account", "region", "resource", "charge_category")
#: dimensions the daily rollup carries; a query using only these (and no tag) reads the rollup
ROLLUP_DIMENSIONS = frozenset(
    {"provider", "service", "account", "billing_account", "region", "charge_category"}
)
METRIC_COLUMNS: dict[str, str] = {
    "billed": "billed_cost",
    "effective": "effective_cost",
    "list": "list_cost",
    "contracted": "contracted_cost",
}
MAX_WINDOW_DAYS = 3 * 366
#: query dates must lie in [FIRST_DAY, LAST_DAY]: far enough from year 1 and 9999 that every derived
#: window (previous period, history before `from`, forecast horizon) stays a valid date
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9000, 1, 1)
#: amounts (min_cost, ...) must be below this: the range of the ledger's NUMERIC(30, 12) money columns
MAX_AMOUNT = Decimal(10) ** 18


class QueryError(BadRequest, ValueError):
    """A query parameter that cannot be understood (400); `param` names it."""

    default_code = "invalid_query"

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message, param=param)


@dataclass(frozen=True)
class Dimension:
    """A grouping/filtering dimension; `name` is also the response field: `tag:<key>` with the key as the
    caller spelled it (`label`), while `tag_key` is the normalized key the ledger is matched on."""

    kind: str  # one of DIMENSIONS, or "tag"
    tag_key: str | None = None
    label: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"tag:{self.label or self.tag_key}" if self.kind == "tag" else self.kind


@dataclass(frozen=True)
class Filter:
    """Rows whose dimension is one of `values` (None matches a missing value)."""

    dimension: Dimension
    values: tuple[str | None, ...]


@dataclass(frozen=True)
class CostQuery:
    """A parsed /costs query."""

    start: date
    end: date  # exclusive
    metric: str = "billed"
    granularity: str | None = None
    group_by: tuple[Dimension, ...] = ()
    filters: tuple[Filter, ...] = ()
    currency: str | None = None
    limit: int | None = None
    offset: int = 0

    @property
    def uses_rollup(self) -> bool:
        used = [d.kind for d in self.group_by] + [f.dimension.kind for f in self.filters]
        return all(kind in ROLLUP_DIMENSIONS for kind in used)

    @property
    def metric_column(self) -> str:
        return METRIC_COLUMNS[self.metric]

    def shifted(self, days: int) -> CostQuery:
        """The same query over a window moved by `days`."""
        return replace(self, start=self.start + timedelta(days=days), end=self.end + timedelta(days=days))


def parse_dimension(text: str, normalizer: TagNormalizer, param: str) -> Dimension:
    """`service`, `tag:env`, ... as a Dimension."""
    text = text.strip()
    if text.startswith("tag:"):
        key = normalizer.key(text[4:])
        if not key:
            raise QueryError(f"{param}: tag:<key> needs a key", param)
        if not is_valid_tag_key(text[4:].strip()) or not is_valid_tag_key(key):
            raise QueryError(f"{param}: {TAG_KEY_HELP}", param)
        return Dimension("tag", key, text[4:].strip())
    if text not in DIMENSIONS:
        raise QueryError(
            f"{param}: unknown dimension {text!r}; use {', '.join(DIMENSIONS)} or tag:<key>", param
        )
    return Dimension(text)


def parse_group_by(text: str | None, normalizer: TagNormalizer) -> tuple[Dimension, ...]:
    """The group_by list (duplicates refused)."""
    if not text or not text.strip():
        return ()
    dims = tuple(parse_dimension(part, normalizer, "group_by") for part in text.split(",") if part.strip())
    if len(set(dims)) != len(dims):  # tag keys compare normalized: tag:CostCenter == tag:cost-center
        raise QueryError("group_by: a dimension is listed twice", "group_by")
    return dims


def parse_filter(text: str | None, normalizer: TagNormalizer) -> tuple[Filter, ...]:
    """The filter terms (see the module docstring for the syntax)."""
    if not text or not text.strip():
        return ()
    filters: list[Filter] = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        # `<dimension>:<value>`, or `<dimension>=<value>` (whichever separator comes first)
        colon_at, equals_at = term.find(":"), term.find("=")
        separator = "=" if equals_at != -1 and (colon_at == -1 or equals_at < colon_at) else ":"
        name, colon, rest = term.partition(separator)
        if not colon or not rest:
            raise QueryError(f"filter: {term!r} is not <dimension>:<value>", "filter")
        if separator == "=" and name.strip() == "tag":
            raise QueryError(f"filter: {term!r} is not tag:<key>=<value>", "filter")
        if name.strip() == "tag":
            key, equals, values = rest.partition("=")
            if not equals or not key.strip() or not values:
                raise QueryError(f"filter: {term!r} is not tag:<key>=<value>", "filter")
            if not is_valid_tag_key(key.strip()) or not is_valid_tag_key(normalizer.key(key)):
                raise QueryError(f"filter: {TAG_KEY_HELP}", "filter")
            dimension = Dimension("tag", normalizer.key(key))
            choices = tuple(normalizer.value(v) for v in values.split("|"))
        else:
            dimension = parse_dimension(name, normalizer, "filter")
            choices = tuple(v.strip() for v in rest.split("|"))
        if any(not v for v in choices):
            raise QueryError(f"filter: {term!r} has an empty value", "filter")
        filters.append(Filter(dimension, choices))
    return tuple(filters)


def parse_currency(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    code = text.strip().upper()
    if not code.isalpha() or not 3 <= len(code) <= 8:
        raise QueryError("currency must be an ISO code such as USD or EUR", "currency")
    return code


def window(start: date | None, end: date | None, today: date, default_days: int = 30) -> tuple[date, date]:
    """[from, to): `to` defaults to tomorrow (today included), `from` to `default_days` before `to`."""
    for value, param in ((start, "from"), (end, "to")):
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise QueryError(f"`{param}` must be between {FIRST_DAY} and {LAST_DAY}", param)
    end = end or today + timedelta(days=1)
    start = start or end - timedelta(days=default_days)
    if end <= start:
        raise QueryError("`to` must be after `from` (to is exclusive)", "to")
    if (end - start).days > MAX_WINDOW_DAYS:
        raise QueryError(f"the window may span at most {MAX_WINDOW_DAYS} days", "from")
    return start, end
