"""GCP billing export through the real google-cloud-bigquery client, and SKU list prices through the real
CloudCatalogClient (REST transport), both against loopback fakes of the Google REST APIs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.cloud.billing_v1 import CloudCatalogClient

from economist.sources import GcpBigQuerySource, GcpCatalogListPrices
from economist.sources.gcp_bigquery import billing_export_sql
from tests.economist.fakes.gcp import BigQueryFake, CatalogFake, catalog_sku
from tests.economist.fakes.http import LoopbackServer

PROJECT = "billing-admin"
TABLE = "billing-admin.billing_export.gcp_billing_export_resource_v1_0123AB_4567CD_89EF01"
COMPUTE = "6F81-5844-456A"


def export_record(
    day: int, hour: int, cost: float, credits: list[float], *, sku: str = "CP-N1-CORE", tax: bool = False
) -> dict:
    return {
        "billing_account_id": "0123AB-4567CD-89EF01",
        "service": {"id": COMPUTE, "description": "Compute Engine"},
        "sku": {"id": sku, "description": "N1 Predefined Instance Core running in Americas"},
        "usage_start_time": datetime(2024, 9, day, hour, tzinfo=UTC),
        "usage_end_time": datetime(2024, 9, day, hour + 1, tzinfo=UTC),
        "project": {"id": "shop-prod", "name": "Shop Prod", "labels": []},
        "labels": [{"key": "team", "value": "checkout"}, {"key": "env", "value": "prod"}],
        "location": {
            "location": "us-central1",
            "country": "US",
            "region": "us-central1",
            "zone": "us-central1-a",
        },
        "cost": cost,
        "currency": "USD",
        "usage": {
            "amount": 3600.0,
            "unit": "seconds",
            "amount_in_pricing_units": 1.0,
            "pricing_unit": "hour",
        },
        "credits": [
            {"name": "Sustained usage discount", "amount": amount, "type": "SUSTAINED_USAGE_DISCOUNT"}
            for amount in credits
        ],
        "invoice": {"month": "202409"},
        "cost_type": "tax" if tax else "regular",
        "resource": {
            "name": "vm-1",
            "global_name": "//compute.googleapis.com/projects/shop-prod/instances/1",
        },
        "price": {"list_price": 0.0475, "pricing_unit_quantity": 1.0},
    }


RECORDS = [
    export_record(1, 0, 0.031611, [-0.006322]),
    export_record(1, 1, 0.031611, [-0.006322, -0.001]),
    export_record(1, 2, 0.1 + 0.2, []),  # a float that is not 0.3: CAST AS NUMERIC rounds to 9 places
    export_record(2, 0, 1.5, [], tax=True),
    export_record(2, 5, 0.031611, []),
    export_record(3, 0, 99.0, []),  # outside [Sep 1, Sep 3)
]


@pytest.fixture
def bigquery_fake() -> Iterator[tuple[bigquery.Client, BigQueryFake]]:
    fake = BigQueryFake(PROJECT, TABLE, RECORDS)
    with LoopbackServer(fake) as server:
        client = bigquery.Client(
            project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": server.url}
        )
        yield client, fake
        client.close()


def test_detailed_export_pages_and_folds_credits(bigquery_fake) -> None:
    client, fake = bigquery_fake
    source = GcpBigQuerySource(client, TABLE, date(2024, 9, 1), date(2024, 9, 3), detailed=True)
    batches = list(source.batches(2))
    rows = [r for b in batches for r in b.rows]
    assert [len(b.rows) for b in batches] == [2, 2, 1]  # three pages of two via pageToken
    assert len(fake.queries) == 1 and fake.queries[0]["maxResults"] == 2
    params = {p["name"]: p["parameterValue"]["value"] for p in fake.queries[0]["queryParameters"]}
    assert params["start"].startswith("2024-09-01 00:00:00") and params["end"].startswith(
        "2024-09-03 00:00:00"
    )
    first = rows[0]
    assert first["billed_cost"] == Decimal("0.031611")
    assert first["effective_cost"] == Decimal("0.025289")  # 0.031611 - 0.006322
    assert rows[1]["effective_cost"] == Decimal("0.024289")
    assert rows[2]["billed_cost"] == Decimal("0.300000000")
    assert rows[3]["charge_category"] == "Tax" and rows[0]["charge_category"] == "Usage"
    assert first["provider_name"] == "Google Cloud" and first["service_name"] == "Compute Engine"
    assert (first["sub_account_id"], first["sub_account_name"]) == ("shop-prod", "Shop Prod")
    assert (first["region_id"], first["availability_zone"]) == ("us-central1", "us-central1-a")
    assert first["resource_id"] == "//compute.googleapis.com/projects/shop-prod/instances/1"
    assert first["tags"] == {"team": "checkout", "env": "prod"}
    assert first["charge_period_start"] == datetime(2024, 9, 1, 0, tzinfo=UTC)
    assert first["billing_period_start"] == datetime(2024, 9, 1, tzinfo=UTC)
    assert first["billing_period_end"] == datetime(2024, 10, 1, tzinfo=UTC)
    assert first["list_cost"] == Decimal("0.0475000000")  # price.list_price x 1 hour
    assert first["pricing_quantity"] == Decimal(1) and first["pricing_unit"] == "hour"
    assert first["consumed_quantity"] == Decimal(3600) and first["consumed_unit"] == "seconds"
    billed = sum((r["billed_cost"] for r in rows), Decimal(0))
    effective = sum((r["effective_cost"] for r in rows), Decimal(0))
    assert billed == Decimal("1.894833")  # 3 x 0.031611 + 0.3 + 1.5
    assert effective == billed - Decimal("0.013644")


@pytest.fixture
def catalog() -> Iterator[tuple[CloudCatalogClient, CatalogFake]]:
    skus = [
        catalog_sku(COMPUTE, "CP-N1-CORE", [(0, "0", 31611000)]),
        catalog_sku(COMPUTE, "CP-EGRESS", [(0, "0", 0), (1, "0", 120000000), (1024, "0", 80000000)]),
        catalog_sku(COMPUTE, "CP-BIG", [(0, "2", 500000000)]),
    ]
    fake = CatalogFake(COMPUTE, skus)
    with LoopbackServer(fake) as server:
        client = CloudCatalogClient(
            credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": server.url}
        )
        yield client, fake


def test_catalog_list_prices(catalog) -> None:
    client, fake = catalog
    prices = GcpCatalogListPrices(client, COMPUTE)
    assert prices.unit_price("CP-N1-CORE") == Decimal("0.031611")
    assert prices.unit_price("CP-EGRESS") == Decimal("0.12")  # the first non-free tier
    assert prices.unit_price("CP-BIG") == Decimal("2.5")
    assert prices.unit_price("unknown") is None
    assert len(fake.requests) == 2  # two pages, loaded once
    assert fake.requests[0].query.get("currencyCode") == ["USD"]


def test_standard_export_uses_the_catalog_for_list_cost(bigquery_fake, catalog) -> None:
    bq, fake = bigquery_fake
    catalog_client, _ = catalog
    source = GcpBigQuerySource(
        bq,
        TABLE,
        date(2024, 9, 1),
        date(2024, 9, 2),
        detailed=False,
        list_prices=GcpCatalogListPrices(catalog_client, COMPUTE),
    )
    rows = [r for b in source.batches() for r in b.rows]
    assert "resource.global_name" not in fake.queries[0]["query"]
    assert len(rows) == 3
    assert all(r["resource_id"] is None for r in rows)
    assert rows[0]["list_cost"] == Decimal("0.0316110000")  # 1 hour x 0.031611


def test_table_name_is_validated() -> None:
    with pytest.raises(ValueError, match="project.dataset.table"):
        billing_export_sql("proj.ds.t`; DROP TABLE x; --", detailed=False)
    assert "_PARTITIONTIME" not in billing_export_sql("p.d.t", detailed=False, partition_filter=False)
