"""Azure Cost Management Query API (`client.query.usage` of azure-mgmt-costmanagement) as daily ledger rows.

Rows are mapped by the response's column names (Cost|PreTaxCost, UsageDate as 20240901, Currency, and the
grouping columns). Paging: the response's `nextLink` carries a `$skiptoken`; the same query is sent again
through `client.query.usage` with that token's query parameters, so every page goes through the SDK's
pipeline (auth, retries on 429/5xx) and never to a host other than the client's endpoint. The raw response
body is parsed with Decimal for numbers, so costs never pass through float.

cost_type: "ActualCost" (billed = effective = the actual cost), "AmortizedCost" (effective = billed = the
amortized cost), or "ActualAndAmortized": both queries, merged per (day, groups, currency) so billed comes
from actual and effective from amortized (memory: one entry per day and group, not per resource-hour).
Credentials: the TokenCredential given to the client (e.g. azure-identity's DefaultAzureCredential).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from economist.ledger.columns import empty_row
from economist.sources.base import DEFAULT_BATCH_SIZE, SourceBatch, SourceProgress, SourceRowError
from economist.sources.rows import batch_rows, fold_name
from economist.sources.values import ONE_DAY, day_start, month_bounds, to_decimal

AzureCostType = Literal["ActualCost", "AmortizedCost", "ActualAndAmortized"]
ZERO = Decimal(0)
_COST_COLUMNS = ("cost", "pretaxcost", "totalcost", "costinbillingcurrency")
_DATE_COLUMNS = ("usagedate", "date", "billingmonth")
_GROUP_COLUMNS = {
    "servicename": "service_name",
    "metercategory": "service_name",
    "subscriptionid": "sub_account_id",
    "subscriptionname": "sub_account_name",
    "resourceid": "resource_id",
    "resourcetype": "resource_type",
    "meterid": "sku_id",
    "meter": "charge_description",
    "billingaccountid": "billing_account_id",
    "billingaccountname": "billing_account_name",
    "billingprofileid": "billing_account_id",
    "billingprofilename": "billing_account_name",
    "publishername": "publisher_name",
    "invoiceid": "invoice_id",
}
#: Azure's ChargeType (folded) -> FOCUS ChargeCategory, for query results and cost exports alike; unknown: Usage
AZURE_CHARGE_CATEGORIES = {
    "usage": "Usage",
    "unusedreservation": "Usage",
    "unusedsavingsplan": "Usage",
    "purchase": "Purchase",
    "refund": "Adjustment",
    "roundingadjustment": "Adjustment",
    "adjustment": "Adjustment",
    "tax": "Tax",
    "credit": "Credit",
}


def _usage_day(value: Any) -> date:
    """UsageDate as the API returns it: 20240901 (number) or an ISO date/time string."""
    if isinstance(value, int | Decimal):
        text = str(int(value))
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) == 8:
            return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    raise ValueError(f"not a usage date: {value!r}")


class AzureCostQuerySource:
    """Daily costs for scope over [start, end) (end exclusive), grouped by up to two dimensions or a tag."""

    name = "azure_cost"

    def __init__(
        self,
        client: Any,
        scope: str,
        start: date,
        end: date,
        cost_type: AzureCostType = "ActualCost",
        group_by: Sequence[str] = ("ServiceName", "ResourceLocation"),
        *,
        tag_key: str | None = None,
    ) -> None:
        if end <= start:
            raise ValueError("end must be after start (end is exclusive)")
        if len(group_by) + (tag_key is not None) > 2:
            raise ValueError("the Query API allows at most two groupings (group_by + tag_key)")
        self._client = client
        self._scope = scope.strip("/")
        self._start = start
        self._end = end
        self._cost_type = cost_type
        self._group_by = list(group_by)
        self._tag_key = tag_key
        self.requests_made = 0

    def definition(self, cost_type: str) -> Any:
        """The QueryDefinition sent for one cost type."""
        from azure.mgmt.costmanagement.models import (
            QueryAggregation,
            QueryDataset,
            QueryDefinition,
            QueryGrouping,
            QueryTimePeriod,
        )

        grouping = [QueryGrouping(type="Dimension", name=name) for name in self._group_by]
        if self._tag_key is not None:
            grouping.append(QueryGrouping(type="TagKey", name=self._tag_key))
        last = datetime.combine(self._end - ONE_DAY, time(23, 59, 59), tzinfo=UTC)
        return QueryDefinition(
            type=cost_type,
            timeframe="Custom",
            time_period=QueryTimePeriod(from_property=day_start(self._start), to=last),
            dataset=QueryDataset(
                granularity="Daily",
                aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
                grouping=grouping or None,
            ),
        )

    def _pages(self, cost_type: str) -> Iterator[dict[str, Any]]:
        definition = self.definition(cost_type)
        raw: Callable[..., str] = lambda pipeline_response, _deserialized, _headers: (  # noqa: E731
            pipeline_response.http_response.text()
        )
        params: dict[str, str] = {}
        while True:
            self.requests_made += 1
            body = self._client.query.usage(self._scope, definition, params=params, cls=raw)
            page = json.loads(body, parse_float=Decimal) if body else {}
            properties = page.get("properties") or {}
            yield properties
            next_link = properties.get("nextLink")
            if not next_link:
                return
            params = {k: v for k, v in parse_qsl(urlsplit(next_link).query) if k.lower() != "api-version"}
            if not params:
                raise SourceRowError(cost_type, 0, "nextLink", "a nextLink without query parameters")

    def _records(self, cost_type: str) -> Iterator[dict[str, Any]]:
        """One dict per response row: {'day', 'cost', 'currency', 'groups': {folded column: value}}."""
        for page in self._pages(cost_type):
            names = [fold_name(c.get("name", "")) for c in page.get("columns") or []]
            cost_at = next((names.index(c) for c in _COST_COLUMNS if c in names), None)
            date_at = next((names.index(c) for c in _DATE_COLUMNS if c in names), None)
            currency_at = names.index("currency") if "currency" in names else None
            if cost_at is None or date_at is None:
                raise SourceRowError(
                    cost_type, 1, "Cost|UsageDate", "the response has no cost or date column"
                )
            skip = {cost_at, date_at, currency_at}
            for number, values in enumerate(page.get("rows") or [], start=2):
                try:
                    cost = to_decimal(values[cost_at])
                    day = _usage_day(values[date_at])
                except (ValueError, IndexError) as exc:
                    raise SourceRowError(cost_type, number, names[cost_at], str(exc)) from None
                groups = {names[i]: values[i] for i in range(len(values)) if i not in skip}
                currency = values[currency_at] if currency_at is not None else "USD"
                yield {"day": day, "cost": cost or ZERO, "currency": currency, "groups": groups}

    def _row(self, record: dict[str, Any], billed: Decimal, effective: Decimal) -> dict[str, Any]:
        row = empty_row()
        start = day_start(record["day"])
        row["billed_cost"] = billed
        row["effective_cost"] = effective
        row["billing_currency"] = str(record["currency"]).strip().upper()
        row["charge_period_start"] = start
        row["charge_period_end"] = start + timedelta(days=1)
        row["billing_period_start"], row["billing_period_end"] = month_bounds(start)
        row["provider_name"] = "Microsoft"
        row["publisher_name"] = "Microsoft"
        row["invoice_issuer_name"] = "Microsoft"
        row["charge_category"] = "Usage"
        tags: dict[str, str] = {}
        groups = record["groups"]
        for name, value in groups.items():
            text = None if value is None else str(value).strip() or None
            if name == "resourcelocation" and text:
                row["region_id"] = text.lower().replace(" ", "")
                row["region_name"] = text
            elif name == "chargetype" and text:
                row["charge_category"] = AZURE_CHARGE_CATEGORIES.get(fold_name(text), "Usage")
            elif name in _GROUP_COLUMNS:
                row[_GROUP_COLUMNS[name]] = text
        tag_value = groups.get("tagvalue")
        if tag_value not in (None, ""):
            tags[str(groups.get("tagkey") or self._tag_key)] = str(tag_value)
        row["tags"] = tags
        return row

    def _rows(self) -> Iterator[dict[str, Any]]:
        if self._cost_type != "ActualAndAmortized":
            for record in self._records(self._cost_type):
                yield self._row(record, record["cost"], record["cost"])
            return
        merged: dict[tuple[Any, ...], list[Any]] = {}
        for index, cost_type in enumerate(("ActualCost", "AmortizedCost")):
            for record in self._records(cost_type):
                key = (record["day"], record["currency"], tuple(sorted(record["groups"].items())))
                entry = merged.setdefault(key, [record, ZERO, ZERO])
                entry[1 + index] += record["cost"]
        for record, billed, effective in merged.values():
            yield self._row(record, billed, effective)

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        progress = SourceProgress(bytes_total=None)
        yield from batch_rows(self._rows(), progress, batch_size)


def make_cost_management_client(endpoint: str | None = None) -> Any:
    """A Cost Management client with DefaultAzureCredential (endpoint: another cloud or a fake)."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.costmanagement import CostManagementClient

    kwargs: dict[str, Any] = {"base_url": endpoint} if endpoint else {}
    return CostManagementClient(DefaultAzureCredential(), **kwargs)
