"""Azure Cost Management Query API through the real azure-mgmt-costmanagement client, over HTTPS on loopback
(a self-signed certificate made in the test), against a fake answering the documented JSON with a nextLink."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.mgmt.costmanagement import CostManagementClient

from economist.sources import AzureCostQuerySource
from tests.economist.fakes.azure_cost import CostQueryFake, RawNumber
from tests.economist.fakes.http import LoopbackServer
from tests.economist.fakes.tls import make_loopback_cert

SCOPE = "/subscriptions/00000000-0000-0000-0000-000000000001"
COLUMNS = [
    {"name": "Cost", "type": "Number"},
    {"name": "UsageDate", "type": "Number"},
    {"name": "ServiceName", "type": "String"},
    {"name": "ResourceLocation", "type": "String"},
    {"name": "Currency", "type": "String"},
]
ACTUAL = [
    [  # page 1
        [RawNumber("1.0000000000000001"), 20240901, "Virtual Machines", "EU West", "EUR"],
        [RawNumber("0.1"), 20240901, "Storage", "EU West", "EUR"],
    ],
    [  # page 2, reached through nextLink
        [RawNumber("0.2"), 20240902, "Storage", "EU West", "EUR"],
        [RawNumber("600"), 20240902, "Reservations", "", "EUR"],
    ],
]
AMORTIZED = [
    [
        [RawNumber("0.9"), 20240901, "Virtual Machines", "EU West", "EUR"],
        [RawNumber("0.1"), 20240901, "Storage", "EU West", "EUR"],
        [RawNumber("0.2"), 20240902, "Storage", "EU West", "EUR"],
        [RawNumber("19.35"), 20240902, "Virtual Machines", "EU West", "EUR"],
    ]
]


class StaticToken:
    """A TokenCredential that always returns the same bearer token."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("fake-token", int(time.time()) + 3600)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_loopback_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def azure(tls) -> Iterator[tuple[CostManagementClient, CostQueryFake, LoopbackServer]]:
    cert, key = tls
    fake = CostQueryFake(COLUMNS, {"ActualCost": ACTUAL, "AmortizedCost": AMORTIZED})
    with LoopbackServer(fake, cert=cert, key=key) as server:
        fake.base_url = server.url
        client = CostManagementClient(StaticToken(), base_url=server.url, connection_verify=str(cert))
        yield client, fake, server
        client.close()


def test_actual_cost_follows_next_link_and_keeps_decimals(azure) -> None:
    client, fake, server = azure
    source = AzureCostQuerySource(client, SCOPE, date(2024, 9, 1), date(2024, 9, 3))
    batches = list(source.batches(3))
    rows = [r for b in batches for r in b.rows]
    assert [len(b.rows) for b in batches] == [3, 1] and batches[-1].progress.rows_read == 4
    assert source.requests_made == 2
    assert [r.query.get("$skiptoken") for r in server.requests] == [None, ["1"]]
    assert server.requests[0].path == SCOPE + "/providers/Microsoft.CostManagement/query"
    body = fake.bodies[0]
    assert body["type"] == "ActualCost" and body["timeframe"] == "Custom"
    assert body["dataset"]["granularity"] == "Daily"
    assert body["dataset"]["grouping"] == [
        {"type": "Dimension", "name": "ServiceName"},
        {"type": "Dimension", "name": "ResourceLocation"},
    ]
    assert body["timePeriod"]["from"].startswith("2024-09-01T00:00:00")
    assert body["timePeriod"]["to"].startswith("2024-09-02T23:59:59")
    assert fake.bodies[1] == body  # the same query, next page
    vm = rows[0]
    assert vm["billed_cost"] == vm["effective_cost"] == Decimal("1.0000000000000001")  # no float on the way
    assert vm["billing_currency"] == "EUR" and vm["provider_name"] == "Microsoft"
    assert vm["service_name"] == "Virtual Machines"
    assert (vm["region_id"], vm["region_name"]) == ("euwest", "EU West")
    assert vm["charge_period_start"] == datetime(2024, 9, 1, tzinfo=UTC)
    assert vm["charge_period_end"] == datetime(2024, 9, 2, tzinfo=UTC)
    assert vm["billing_period_end"] == datetime(2024, 10, 1, tzinfo=UTC)
    assert rows[3]["region_id"] is None
    assert sum((r["billed_cost"] for r in rows), Decimal(0)) == Decimal("601.3000000000000001")


def test_actual_and_amortized_are_merged_per_day_and_group(azure) -> None:
    client, fake, _server = azure
    source = AzureCostQuerySource(client, SCOPE, date(2024, 9, 1), date(2024, 9, 3), "ActualAndAmortized")
    rows = [r for b in source.batches() for r in b.rows]
    assert [b["type"] for b in fake.bodies] == ["ActualCost", "ActualCost", "AmortizedCost"]
    by_key = {(r["charge_period_start"].day, r["service_name"]): r for r in rows}
    assert len(rows) == 5
    assert by_key[(1, "Virtual Machines")]["billed_cost"] == Decimal("1.0000000000000001")
    assert by_key[(1, "Virtual Machines")]["effective_cost"] == Decimal("0.9")
    assert by_key[(2, "Reservations")]["effective_cost"] == 0  # the purchase is amortized away
    assert by_key[(2, "Virtual Machines")]["billed_cost"] == 0
    assert sum((r["billed_cost"] for r in rows), Decimal(0)) == Decimal("601.3000000000000001")
    assert sum((r["effective_cost"] for r in rows), Decimal(0)) == Decimal("20.55")


def test_tag_grouping(tls) -> None:
    cert, key = tls
    columns = [
        {"name": "PreTaxCost", "type": "Number"},
        {"name": "UsageDate", "type": "Number"},
        {"name": "TagKey", "type": "String"},
        {"name": "TagValue", "type": "String"},
        {"name": "Currency", "type": "String"},
    ]
    pages = {
        "AmortizedCost": [
            [
                [RawNumber("5.5"), 20240901, "team", "payments", "USD"],
                [RawNumber("1"), 20240901, "team", "", "USD"],
            ]
        ]
    }
    fake = CostQueryFake(columns, pages)
    with LoopbackServer(fake, cert=cert, key=key) as server:
        client = CostManagementClient(StaticToken(), base_url=server.url, connection_verify=str(cert))
        source = AzureCostQuerySource(
            client, SCOPE, date(2024, 9, 1), date(2024, 9, 2), "AmortizedCost", group_by=[], tag_key="team"
        )
        rows = [r for b in source.batches() for r in b.rows]
        client.close()
    assert fake.bodies[0]["dataset"]["grouping"] == [{"type": "TagKey", "name": "team"}]
    assert [(r["effective_cost"], r["tags"]) for r in rows] == [
        (Decimal("5.5"), {"team": "payments"}),
        (1, {}),
    ]


def test_too_many_groupings_is_refused() -> None:
    with pytest.raises(ValueError, match="at most two"):
        AzureCostQuerySource(object(), SCOPE, date(2024, 9, 1), date(2024, 9, 2), tag_key="team")
