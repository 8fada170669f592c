"""Loopback fakes of two Google REST APIs, answering with their documented JSON shapes:

- BigQuery v2: jobs.query (POST /bigquery/v2/projects/{p}/queries), jobs.get and getQueryResults (GET
  .../queries/{job})
  with schema + rows as {"f": [{"v": ...}]} and pageToken paging. The fake holds billing-export records in the
  export's documented nested schema and evaluates the one query shape the adapter sends (its projection of
  the export columns, the @start/@end filter); it checks the SQL names each export field it projects.
- Cloud Billing Catalog v1: GET /v1/services/{service}/skus with nextPageToken paging.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.economist.fakes.http import Request, Response

NUMERIC = Decimal("0.000000001")

# the adapter's output columns: (alias, BigQuery type, mode, subfields), and the export field each comes from
_STR = "STRING"
OUTPUT_SCHEMA: list[tuple[str, str, str, Any]] = [
    ("billing_account_id", _STR, "NULLABLE", None),
    ("service_id", _STR, "NULLABLE", None),
    ("service_description", _STR, "NULLABLE", None),
    ("sku_id", _STR, "NULLABLE", None),
    ("sku_description", _STR, "NULLABLE", None),
    ("usage_start_time", "TIMESTAMP", "NULLABLE", None),
    ("usage_end_time", "TIMESTAMP", "NULLABLE", None),
    ("project_id", _STR, "NULLABLE", None),
    ("project_name", _STR, "NULLABLE", None),
    ("region", _STR, "NULLABLE", None),
    ("zone", _STR, "NULLABLE", None),
    ("labels", "RECORD", "REPEATED", [("key", _STR), ("value", _STR)]),
    ("cost", "NUMERIC", "NULLABLE", None),
    ("currency", _STR, "NULLABLE", None),
    ("cost_type", _STR, "NULLABLE", None),
    ("invoice_month", _STR, "NULLABLE", None),
    ("usage_amount", "BIGNUMERIC", "NULLABLE", None),
    ("usage_unit", _STR, "NULLABLE", None),
    ("pricing_quantity", "BIGNUMERIC", "NULLABLE", None),
    ("pricing_unit", _STR, "NULLABLE", None),
    ("credits", "RECORD", "REPEATED", [("name", _STR), ("type", _STR), ("amount", "NUMERIC")]),
]
DETAILED_SCHEMA: list[tuple[str, str, str, Any]] = [
    ("resource_name", _STR, "NULLABLE", None),
    ("resource_global_name", _STR, "NULLABLE", None),
    ("list_price", "BIGNUMERIC", "NULLABLE", None),
    ("price_unit_quantity", "BIGNUMERIC", "NULLABLE", None),
]
SOURCE_FIELDS = {
    "service_id": "service.id",
    "service_description": "service.description",
    "sku_id": "sku.id",
    "sku_description": "sku.description",
    "project_id": "project.id",
    "project_name": "project.name",
    "region": "location.region",
    "zone": "location.zone",
    "invoice_month": "invoice.month",
    "usage_amount": "usage.amount",
    "usage_unit": "usage.unit",
    "pricing_quantity": "usage.amount_in_pricing_units",
    "pricing_unit": "usage.pricing_unit",
    "resource_name": "resource.name",
    "resource_global_name": "resource.global_name",
    "list_price": "price.list_price",
    "price_unit_quantity": "price.pricing_unit_quantity",
}


def _get(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = None if value is None else value.get(part)
    return value


def _numeric(value: Any) -> Decimal | None:
    """CAST(FLOAT64 AS NUMERIC): the float rounded to 9 decimal places."""
    return None if value is None else Decimal(repr(float(value))).quantize(NUMERIC)


def _encode(value: Any, kind: str, mode: str, subfields: Any) -> Any:
    if mode == "REPEATED":
        return [{"v": _encode(item, kind, "NULLABLE", subfields)} for item in value or []]
    if value is None:
        return None
    if kind == "RECORD":
        return {
            "f": [{"v": _encode(value.get(name), sub_kind, "NULLABLE", None)} for name, sub_kind in subfields]
        }
    if kind == "TIMESTAMP":
        return str(int((value - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000))
    return str(value)


def _schema_json(schema: list[tuple[str, str, str, Any]]) -> dict[str, Any]:
    fields = []
    for name, kind, mode, subfields in schema:
        field: dict[str, Any] = {"name": name, "type": kind, "mode": mode}
        if subfields:
            field["fields"] = [{"name": n, "type": t, "mode": "NULLABLE"} for n, t in subfields]
        fields.append(field)
    return {"fields": fields}


class BigQueryFake:
    """Billing export table `table` holding `records` (the export's nested schema, floats for money)."""

    def __init__(self, project: str, table: str, records: list[dict[str, Any]]) -> None:
        self.project = project
        self.table = table
        self.records = records
        self.results: dict[str, tuple[list[tuple[str, str, str, Any]], list[dict[str, Any]]]] = {}
        self.queries: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def _run(self, body: dict[str, Any]) -> tuple[str, list[tuple[str, str, str, Any]], list[dict[str, Any]]]:
        sql = body["query"]
        assert f"FROM `{self.table}`" in sql, sql
        assert "@start" in sql and "@end" in sql, sql
        params = {p["name"]: p["parameterValue"]["value"] for p in body.get("queryParameters", [])}
        start = datetime.fromisoformat(params["start"])
        end = datetime.fromisoformat(params["end"])
        detailed = "resource.global_name" in sql
        schema = OUTPUT_SCHEMA + (DETAILED_SCHEMA if detailed else [])
        for alias, _kind, _mode, _sub in schema:
            assert SOURCE_FIELDS.get(alias, alias) in sql, f"{alias} is not selected from the export"
        rows = []
        for record in self.records:
            if not start <= record["usage_start_time"] < end:
                continue
            row = {alias: _get(record, SOURCE_FIELDS.get(alias, alias)) for alias, *_ in schema}
            row["cost"] = _numeric(record["cost"])
            row["credits"] = [
                {"name": c["name"], "type": c["type"], "amount": _numeric(c["amount"])}
                for c in record.get("credits", [])
            ]
            for alias in ("usage_amount", "pricing_quantity", "list_price", "price_unit_quantity"):
                if row.get(alias) is not None:
                    row[alias] = Decimal(repr(float(row[alias])))
            rows.append(row)
        job_id = f"job_{next(self._ids)}"
        self.results[job_id] = (schema, rows)
        return job_id, schema, rows

    def _page(self, job_id: str, offset: int, size: int, kind: str) -> dict[str, Any]:
        schema, rows = self.results[job_id]
        chunk = rows[offset : offset + size]
        page: dict[str, Any] = {
            "kind": kind,
            "schema": _schema_json(schema),
            "jobReference": {"projectId": self.project, "jobId": job_id, "location": "US"},
            "totalRows": str(len(rows)),
            "rows": [
                {"f": [{"v": _encode(row[name], t, m, sub)} for name, t, m, sub in schema]} for row in chunk
            ],
            "jobComplete": True,
            "cacheHit": False,
        }
        if offset + size < len(rows):
            page["pageToken"] = str(offset + size)
        return page

    def __call__(self, request: Request) -> Response:
        prefix = f"/bigquery/v2/projects/{self.project}/queries"
        if request.method == "POST" and request.path == prefix:
            body = request.json()
            self.queries.append(body)
            job_id, _schema, _rows = self._run(body)
            return Response(
                200, self._page(job_id, 0, int(body.get("maxResults") or 1000), "bigquery#queryResponse")
            )
        if request.method == "GET" and request.path.startswith(prefix + "/"):
            job_id = request.path.rsplit("/", 1)[1]
            offset = int(request.query.get("pageToken", ["0"])[0])
            size = int(request.query.get("maxResults", ["1000"])[0])
            return Response(200, self._page(job_id, offset, size, "bigquery#getQueryResultsResponse"))
        jobs = f"/bigquery/v2/projects/{self.project}/jobs/"
        if request.method == "GET" and request.path.startswith(jobs):
            return Response(200, self._job(request.path[len(jobs) :]))
        return Response(404, {"error": {"code": 404, "message": f"no route {request.method} {request.path}"}})

    def _job(self, job_id: str) -> dict[str, Any]:
        """jobs.get: a finished query job whose results sit in an anonymous destination table."""
        return {
            "kind": "bigquery#job",
            "id": f"{self.project}:US.{job_id}",
            "jobReference": {"projectId": self.project, "jobId": job_id, "location": "US"},
            "configuration": {
                "jobType": "QUERY",
                "query": {
                    "query": "",
                    "useLegacySql": False,
                    "destinationTable": {
                        "projectId": self.project,
                        "datasetId": "_anonymous",
                        "tableId": job_id,
                    },
                },
            },
            "status": {"state": "DONE"},
            "statistics": {
                "creationTime": "1725148800000",
                "startTime": "1725148800000",
                "endTime": "1725148801000",
            },
        }


class CatalogFake:
    """Cloud Billing Catalog: skus of one service, served `page_size` per page."""

    def __init__(self, service_id: str, skus: list[dict[str, Any]], page_size: int = 2) -> None:
        self.service_id = service_id
        self.skus = skus
        self.page_size = page_size
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        if request.method != "GET" or request.path != f"/v1/services/{self.service_id}/skus":
            return Response(404, {"error": {"code": 404, "message": request.path}})
        self.requests.append(request)
        offset = int(request.query.get("pageToken", ["0"])[0])
        chunk = self.skus[offset : offset + self.page_size]
        body: dict[str, Any] = {"skus": chunk}
        if offset + self.page_size < len(self.skus):
            body["nextPageToken"] = str(offset + self.page_size)
        return Response(200, body)


def catalog_sku(service_id: str, sku_id: str, tiers: list[tuple[float, str, int]]) -> dict[str, Any]:
    """A Sku resource as the REST API returns it; tiers are (startUsageAmount, units, nanos)."""
    return {
        "name": f"services/{service_id}/skus/{sku_id}",
        "skuId": sku_id,
        "description": f"SKU {sku_id}",
        "category": {
            "serviceDisplayName": "Compute Engine",
            "resourceFamily": "Compute",
            "usageType": "OnDemand",
        },
        "serviceRegions": ["us-central1"],
        "pricingInfo": [
            {
                "summary": "",
                "pricingExpression": {
                    "usageUnit": "h",
                    "usageUnitDescription": "hour",
                    "baseUnit": "s",
                    "baseUnitDescription": "second",
                    "baseUnitConversionFactor": 3600,
                    "displayQuantity": 1,
                    "tieredRates": [
                        {
                            "startUsageAmount": start,
                            "unitPrice": {"currencyCode": "USD", "units": units, "nanos": nanos},
                        }
                        for start, units, nanos in tiers
                    ],
                },
                "currencyConversionRate": 1,
                "effectiveTime": "2024-09-01T00:00:00Z",
            }
        ],
        "serviceProviderName": "Google",
    }
