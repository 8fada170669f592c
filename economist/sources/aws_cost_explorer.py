"""AWS Cost Explorer `get_cost_and_usage` (DAILY) as ledger rows, with paging, throttling back-off and a page
cache so a repeated run over a closed period pays for no request.

Each request costs money (USD 0.01 per page), so:
- the period is queried one calendar month at a time; every page of a month is fetched (NextPageToken loop),
- when `page_cache` (any dict-like: a dict, shelve, a DB-backed mapping) is given, a month whose results
  are all final (no `Estimated: true` day) is stored under a key derived from the request (period, metrics,
  grouping, filter) as JSON of all its pages; the next run for that month reads the cache and makes no call.
  Months with estimated days (the current and the last few days) are always fetched again.
- LimitExceededException / ThrottlingException (and other throttling codes) are retried with exponential
  back-off and full jitter, at most `max_attempts` tries per page.

Cost Explorer allows at most two GroupBy keys: `group_by` + `tag_keys` together must be <= 2 (e.g.
group_by=[("DIMENSION", "SERVICE")], tag_keys=["team"]). Cost Explorer has no list price and no charge
category per row: list_cost stays None and charge_category is "Usage" unless grouped by RECORD_TYPE.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from economist.ledger.columns import empty_row
from economist.sources.base import DEFAULT_BATCH_SIZE, SourceBatch, SourceProgress, SourceRowError
from economist.sources.rows import batch_rows
from economist.sources.values import day_start, month_bounds, to_decimal

DEFAULT_GROUP_BY: tuple[tuple[str, str], ...] = (("DIMENSION", "SERVICE"), ("DIMENSION", "LINKED_ACCOUNT"))
DEFAULT_METRICS: tuple[str, ...] = ("UnblendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost")
THROTTLING_CODES = frozenset(
    {"LimitExceededException", "ThrottlingException", "Throttling", "TooManyRequestsException"}
)

#: Cost Explorer dimension -> ledger column it fills.
DIMENSION_COLUMNS = {
    "SERVICE": "service_name",
    "LINKED_ACCOUNT": "sub_account_id",
    "REGION": "region_id",
    "AZ": "availability_zone",
    "USAGE_TYPE": "sku_id",
    "RECORD_TYPE": "charge_category",
    "INVOICING_ENTITY": "invoice_issuer_name",
    "LEGAL_ENTITY_NAME": "publisher_name",
    "RESOURCE_ID": "resource_id",
}
_RECORD_TYPES = {
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Adjustment",
    "Enterprise Discount Program Discount": "Credit",
    "Private Rate Card Discount": "Credit",
    "Bundled Discount": "Credit",
    "Recurring Reservation Fee": "Purchase",
    "Savings Plan Recurring Fee": "Purchase",
    "Savings Plan Upfront Fee": "Purchase",
    "Reservation Upfront Fee": "Purchase",
    "Upfront Reservation Fee": "Purchase",
    "Other out-of-cycle charges": "Purchase",
}


class CostExplorerError(RuntimeError):
    """Cost Explorer kept throttling, or answered with something that is not a cost result."""


class AwsCostExplorerSource:
    """Daily costs from Cost Explorer for [start, end) (end exclusive), grouped as configured."""

    name = "aws_cost_explorer"

    def __init__(
        self,
        client: Any,
        start: date,
        end: date,
        group_by: Sequence[tuple[str, str]] = DEFAULT_GROUP_BY,
        tag_keys: Sequence[str] = (),
        metrics: Sequence[str] = DEFAULT_METRICS,
        *,
        effective_metric: str = "AmortizedCost",
        filter: dict[str, Any] | None = None,  # noqa: A002 - the Cost Explorer parameter's name
        page_cache: MutableMapping[str, str] | None = None,
        max_attempts: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if end <= start:
            raise ValueError("end must be after start (end is exclusive)")
        groups = [{"Type": t, "Key": k} for t, k in group_by] + [{"Type": "TAG", "Key": k} for k in tag_keys]
        if len(groups) > 2:
            raise ValueError("Cost Explorer allows at most two GroupBy keys (group_by + tag_keys)")
        if "UnblendedCost" not in metrics:
            raise ValueError("metrics must include UnblendedCost (it is billed_cost)")
        self._client = client
        self._start = start
        self._end = end
        self._groups = groups
        self._metrics = list(dict.fromkeys([*metrics, effective_metric]))
        self._effective_metric = effective_metric
        self._filter = filter
        self._cache = page_cache
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self.requests_made = 0

    # -- requests ----------------------------------------------------------------------------------------

    def _months(self) -> Iterator[tuple[date, date]]:
        cursor = self._start
        while cursor < self._end:
            _, next_month = month_bounds(day_start(cursor))
            stop = min(next_month.date(), self._end)
            yield cursor, stop
            cursor = stop

    def _request(self, start: date, end: date) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": self._metrics,
        }
        if self._groups:
            request["GroupBy"] = self._groups
        if self._filter:
            request["Filter"] = self._filter
        return request

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        for attempt in range(1, self._max_attempts + 1):
            try:
                self.requests_made += 1
                return self._client.get_cost_and_usage(**request)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in THROTTLING_CODES or attempt == self._max_attempts:
                    raise
                delay = min(self._max_delay, self._base_delay * 2 ** (attempt - 1))
                self._sleep(random.uniform(0, delay))
        raise CostExplorerError("unreachable")  # pragma: no cover

    def _month_pages(self, start: date, end: date) -> list[dict[str, Any]]:
        request = self._request(start, end)
        key = "ce:" + hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        if self._cache is not None and key in self._cache:
            return json.loads(self._cache[key])
        pages: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            response = self._call({**request, "NextPageToken": token} if token else request)
            pages.append(
                {
                    "ResultsByTime": response.get("ResultsByTime", []),
                    "DimensionValueAttributes": response.get("DimensionValueAttributes", []),
                }
            )
            token = response.get("NextPageToken")
            if not token:
                break
        final = all(not r.get("Estimated", False) for p in pages for r in p["ResultsByTime"])
        if self._cache is not None and final:
            self._cache[key] = json.dumps(pages)
        return pages

    # -- mapping -----------------------------------------------------------------------------------------

    def _metric(self, metrics: dict[str, Any], name: str, where: str) -> tuple[Decimal | None, str | None]:
        item = metrics.get(name)
        if not item:
            return None, None
        try:
            return to_decimal(item.get("Amount")), item.get("Unit")
        except ValueError as exc:
            raise SourceRowError("cost-explorer", 0, name, f"{where}: {exc}") from None

    def _row(
        self, period: dict[str, str], keys: list[str], metrics: dict[str, Any], names: dict[str, str]
    ) -> dict[str, Any] | None:
        where = f"{period.get('Start')} {'/'.join(keys)}"
        billed, unit = self._metric(metrics, "UnblendedCost", where)
        if billed is None:
            return None
        effective, _ = self._metric(metrics, self._effective_metric, where)
        contracted, _ = self._metric(metrics, "NetUnblendedCost", where)
        row: dict[str, Any] = empty_row()
        start = day_start(date.fromisoformat(period["Start"]))
        row["billed_cost"] = billed
        row["effective_cost"] = billed if effective is None else effective
        row["contracted_cost"] = contracted
        row["billing_currency"] = (unit or "USD").strip().upper()
        row["charge_period_start"] = start
        row["charge_period_end"] = day_start(date.fromisoformat(period["End"]))
        row["billing_period_start"], row["billing_period_end"] = month_bounds(start)
        row["provider_name"] = "AWS"
        row["publisher_name"] = "Amazon Web Services, Inc."
        row["invoice_issuer_name"] = "Amazon Web Services, Inc."
        row["charge_category"] = "Usage"
        tags: dict[str, str] = {}
        for group, value in zip(self._groups, keys, strict=False):
            if group["Type"] == "TAG":
                tag_key, _, tag_value = value.partition("$")
                if tag_value:
                    tags[tag_key or group["Key"]] = tag_value
                continue
            column = DIMENSION_COLUMNS.get(group["Key"])
            if column == "charge_category":
                row[column] = _RECORD_TYPES.get(value, "Usage")
                row["charge_description"] = value
            elif column:
                row[column] = value or None
        row["tags"] = tags
        if row["sub_account_id"]:
            row["sub_account_name"] = names.get(row["sub_account_id"])
        return row

    def _rows(self, progress: SourceProgress) -> Iterator[dict[str, Any]]:
        for start, end in self._months():
            for page in self._month_pages(start, end):
                names = {
                    a["Value"]: a.get("Attributes", {}).get("description")
                    for a in page.get("DimensionValueAttributes", [])
                    if "Value" in a
                }
                for result in page["ResultsByTime"]:
                    period = result["TimePeriod"]
                    if result.get("Groups"):
                        for group in result["Groups"]:
                            row = self._row(period, group.get("Keys", []), group.get("Metrics", {}), names)
                            if row is not None:
                                yield row
                    elif result.get("Total"):
                        row = self._row(period, [], result["Total"], names)
                        if row is not None:
                            yield row

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        progress = SourceProgress(bytes_total=None)
        yield from batch_rows(self._rows(progress), progress, batch_size)


def make_cost_explorer_client(region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 Cost Explorer client from the standard AWS credential chain."""
    import boto3

    return boto3.client("ce", region_name=region, endpoint_url=endpoint_url)
