"""GCP Cloud Billing export in BigQuery (standard or detailed usage cost table) as ledger rows, through
google-cloud-bigquery with a parameterized query.

billed_cost = cost; effective_cost = cost + sum(credits.amount) (credits are negative: sustained/committed use
discounts, promotions, free tier); contracted_cost = cost (negotiated prices, before credits). Float columns
are cast to NUMERIC/BIGNUMERIC in SQL, so BigQuery rounds them once (NUMERIC keeps 9 decimals) and Python sees
Decimal only. list_cost: the detailed table's `price.list_price` x pricing quantity / `price.pricing_unit_
quantity`, else `list_prices.unit_price(sku) x usage.amount_in_pricing_units` when a ListPriceLookup (e.g.
GcpCatalogListPrices) in the row's currency is given. Tags are the resource `labels`. Credentials: the
client's (Application Default Credentials).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from economist.ledger.columns import empty_row
from economist.sources.base import DEFAULT_BATCH_SIZE, SourceBatch, SourceProgress, SourceRowError
from economist.sources.gcp_catalog import ListPriceLookup, google_credentials
from economist.sources.rows import batch_rows
from economist.sources.values import (
    day_start,
    month_bounds,
    to_currency,
    to_datetime,
    to_decimal,
    to_str,
    to_tags,
)

ZERO = Decimal(0)
_TABLE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+){1,2}$")
_LIST_COST_PLACES = Decimal("0.0000000001")
_COST_TYPES = {"regular": "Usage", "tax": "Tax", "adjustment": "Adjustment", "rounding_error": "Adjustment"}

_COMMON_SELECT = """
  billing_account_id,
  service.id AS service_id,
  service.description AS service_description,
  sku.id AS sku_id,
  sku.description AS sku_description,
  usage_start_time,
  usage_end_time,
  project.id AS project_id,
  project.name AS project_name,
  location.region AS region,
  location.zone AS zone,
  labels,
  CAST(cost AS NUMERIC) AS cost,
  currency,
  cost_type,
  invoice.month AS invoice_month,
  CAST(usage.amount AS BIGNUMERIC) AS usage_amount,
  usage.unit AS usage_unit,
  CAST(usage.amount_in_pricing_units AS BIGNUMERIC) AS pricing_quantity,
  usage.pricing_unit AS pricing_unit,
  ARRAY(SELECT AS STRUCT c.name, c.type, CAST(c.amount AS NUMERIC) AS amount FROM UNNEST(credits) AS c)
    AS credits"""

_DETAILED_SELECT = """,
  resource.name AS resource_name,
  resource.global_name AS resource_global_name,
  CAST(price.list_price AS BIGNUMERIC) AS list_price,
  CAST(price.pricing_unit_quantity AS BIGNUMERIC) AS price_unit_quantity"""


def billing_export_sql(table: str, *, detailed: bool, partition_filter: bool = True) -> str:
    """The query (parameters @start, @end: TIMESTAMP) over a billing export table `project.dataset.table`."""
    if not _TABLE.match(table):
        raise ValueError("table must be project.dataset.table (letters, digits, '_' and '-')")
    where = "usage_start_time >= @start AND usage_start_time < @end"
    if partition_filter:
        # exports are ingestion-time partitioned: a usage day lands in its own or a later partition
        where += " AND DATE(_PARTITIONTIME) >= DATE_SUB(DATE(@start), INTERVAL 1 DAY)"
    select = _COMMON_SELECT + (_DETAILED_SELECT if detailed else "")
    return f"SELECT{select}\nFROM `{table}`\nWHERE {where}"  # noqa: S608 - table validated above


class GcpBigQuerySource:
    """Billing export rows whose usage started in [start, end) (end exclusive)."""

    name = "gcp_bigquery"

    def __init__(
        self,
        client: Any,
        table: str,
        start: date,
        end: date,
        detailed: bool,
        *,
        list_prices: ListPriceLookup | None = None,
        partition_filter: bool = True,
    ) -> None:
        if end <= start:
            raise ValueError("end must be after start (end is exclusive)")
        self._client = client
        self._table = table
        self._start = start
        self._end = end
        self._detailed = detailed
        self._list_prices = list_prices
        self.sql = billing_export_sql(table, detailed=detailed, partition_filter=partition_filter)

    def _query(self, page_size: int) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("start", "TIMESTAMP", day_start(self._start)),
                bigquery.ScalarQueryParameter("end", "TIMESTAMP", day_start(self._end)),
            ]
        )
        return self._client.query_and_wait(self.sql, job_config=config, page_size=page_size)

    def _list_cost(self, record: Any, row: dict[str, Any]) -> Decimal | None:
        quantity = row["pricing_quantity"]
        if self._detailed:
            list_price = to_decimal(record.get("list_price"))
            unit_quantity = to_decimal(record.get("price_unit_quantity")) or Decimal(1)
            if list_price is not None and quantity is not None:
                return (list_price * quantity / unit_quantity).quantize(_LIST_COST_PLACES)
        lookup = self._list_prices
        if (
            lookup is not None
            and quantity is not None
            and row["sku_id"]
            and lookup.currency == row["billing_currency"]
        ):
            price = lookup.unit_price(row["sku_id"], to_str(record.get("service_id")))
            if price is not None:
                return (price * quantity).quantize(_LIST_COST_PLACES)
        return None

    def _row(self, record: Any, line: int) -> dict[str, Any]:
        def fail(column: str, message: str) -> SourceRowError:
            return SourceRowError(self._table, line, column, message)

        row = empty_row()
        try:
            cost = to_decimal(record.get("cost"))
            credits = [to_decimal(c.get("amount")) or ZERO for c in record.get("credits") or []]
        except ValueError as exc:
            raise fail("cost", str(exc)) from None
        if cost is None:
            raise fail("cost", "a value is required")
        start = to_datetime(record.get("usage_start_time"))
        end = to_datetime(record.get("usage_end_time"))
        if start is None or end is None:
            raise fail("usage_start_time", "a value is required")
        currency = to_currency(record.get("currency"))
        if currency is None:
            raise fail("currency", "a value is required")
        row["billed_cost"] = cost
        row["effective_cost"] = cost + sum(credits, ZERO)
        row["contracted_cost"] = cost
        row["billing_currency"] = currency
        row["charge_period_start"] = start
        row["charge_period_end"] = end
        month = to_str(record.get("invoice_month"))
        if month and len(month) == 6 and month.isdigit():
            period_start = day_start(date(int(month[:4]), int(month[4:]), 1))
        else:
            period_start = start
        row["billing_period_start"], row["billing_period_end"] = month_bounds(period_start)
        row["billing_account_id"] = to_str(record.get("billing_account_id"))
        row["sub_account_id"] = to_str(record.get("project_id"))
        row["sub_account_name"] = to_str(record.get("project_name"))
        row["provider_name"] = "Google Cloud"
        row["publisher_name"] = "Google"
        row["invoice_issuer_name"] = "Google"
        row["charge_category"] = _COST_TYPES.get(
            (to_str(record.get("cost_type")) or "regular").lower(), "Usage"
        )
        row["charge_description"] = to_str(record.get("sku_description"))
        row["service_name"] = to_str(record.get("service_description"))
        row["sku_id"] = to_str(record.get("sku_id"))
        row["region_id"] = to_str(record.get("region"))
        row["availability_zone"] = to_str(record.get("zone"))
        row["consumed_quantity"] = to_decimal(record.get("usage_amount"))
        row["consumed_unit"] = to_str(record.get("usage_unit"))
        row["pricing_quantity"] = to_decimal(record.get("pricing_quantity"))
        row["pricing_unit"] = to_str(record.get("pricing_unit"))
        if self._detailed:
            row["resource_id"] = to_str(record.get("resource_global_name"))
            row["resource_name"] = to_str(record.get("resource_name"))
        try:
            row["list_cost"] = self._list_cost(record, row)
            row["tags"] = to_tags(record.get("labels") or [])
        except ValueError as exc:
            raise fail("labels/price", str(exc)) from None
        return row

    def _rows(self, page_size: int) -> Iterator[dict[str, Any]]:
        for line, record in enumerate(self._query(page_size), start=2):
            yield self._row(record, line)

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
        progress = SourceProgress(bytes_total=None)
        yield from batch_rows(self._rows(batch_size), progress, batch_size)


def make_bigquery_client(project: str | None, endpoint: str | None = None) -> Any:
    """A BigQuery client (Application Default Credentials on Google's endpoint, see google_credentials)."""
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        credentials=google_credentials(endpoint),
        client_options={"api_endpoint": endpoint} if endpoint else None,
    )
