"""AWS Cost Explorer through boto3 against moto 5 (queued results per page), throttling via botocore's Stubber."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from economist.sources import AwsCostExplorerSource

MOTO_CE_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"


def metrics(unblended: str, amortized: str, net: str | None = None) -> dict:
    out = {
        "UnblendedCost": {"Amount": unblended, "Unit": "USD"},
        "AmortizedCost": {"Amount": amortized, "Unit": "USD"},
        "NetAmortizedCost": {"Amount": amortized, "Unit": "USD"},
    }
    if net is not None:
        out["NetUnblendedCost"] = {"Amount": net, "Unit": "USD"}
    return out


def day(start: str, end: str, groups: list[dict], estimated: bool = False) -> dict:
    return {"TimePeriod": {"Start": start, "End": end}, "Total": {}, "Groups": groups, "Estimated": estimated}


def group(*keys: str, unblended: str, amortized: str, net: str | None = None) -> dict:
    return {"Keys": list(keys), "Metrics": metrics(unblended, amortized, net)}


ACCOUNTS = [
    {"Value": "111111111111", "Attributes": {"description": "prod"}},
    {"Value": "222222222222", "Attributes": {"description": "dev"}},
]
PAGE_1 = {
    "NextPageToken": "page-2-token",
    "ResultsByTime": [
        day(
            "2024-09-01",
            "2024-09-02",
            [
                group("Amazon EC2", "111111111111", unblended="10.123456789", amortized="8.5", net="9.9"),
                group("Amazon S3", "222222222222", unblended="0.000001", amortized="0.000001"),
            ],
        )
    ],
    "DimensionValueAttributes": ACCOUNTS,
}
PAGE_2 = {
    "ResultsByTime": [
        day("2024-09-01", "2024-09-02", [group("Tax", "111111111111", unblended="1.5E+1", amortized="15")]),
        day(
            "2024-09-02", "2024-09-03", [group("Amazon EC2", "111111111111", unblended="3", amortized="2.25")]
        ),
    ],
    "DimensionValueAttributes": ACCOUNTS,
}


def count_calls(client) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.ce.GetCostAndUsage", lambda **kw: calls.append("call"))
    return calls


def queue(results: list[dict]) -> None:
    response = requests.post(MOTO_CE_RESULTS, json={"results": results}, timeout=5)
    assert response.status_code == 201


def rows_of(source) -> list[dict]:
    return [row for batch in source.batches(2) for row in batch.rows]


@mock_aws
def test_pages_are_followed_and_mapped() -> None:
    client = boto3.client("ce", region_name="us-east-1")
    calls = count_calls(client)
    queue([PAGE_1, PAGE_2])
    rows = rows_of(AwsCostExplorerSource(client, date(2024, 9, 1), date(2024, 9, 3)))
    assert len(calls) == 2  # page 1, then page 2 via NextPageToken
    assert len(rows) == 4
    ec2 = rows[0]
    assert ec2["billed_cost"] == Decimal("10.123456789")
    assert ec2["effective_cost"] == Decimal("8.5")
    assert ec2["contracted_cost"] == Decimal("9.9")
    assert ec2["billing_currency"] == "USD" and ec2["provider_name"] == "AWS"
    assert ec2["service_name"] == "Amazon EC2"
    assert (ec2["sub_account_id"], ec2["sub_account_name"]) == ("111111111111", "prod")
    assert ec2["charge_period_start"] == datetime(2024, 9, 1, tzinfo=UTC)
    assert ec2["charge_period_end"] == datetime(2024, 9, 2, tzinfo=UTC)
    assert ec2["billing_period_start"] == datetime(2024, 9, 1, tzinfo=UTC)
    assert ec2["billing_period_end"] == datetime(2024, 10, 1, tzinfo=UTC)
    assert rows[1]["sub_account_name"] == "dev"
    assert sum((r["billed_cost"] for r in rows), Decimal(0)) == Decimal("28.123457789")
    assert sum((r["effective_cost"] for r in rows), Decimal(0)) == Decimal("25.750001")


@mock_aws
def test_page_cache_makes_a_repeat_run_free_for_final_months() -> None:
    client = boto3.client("ce", region_name="us-east-1")
    calls = count_calls(client)
    # two months: August is final, September is still estimated
    august = {
        "ResultsByTime": [day("2024-08-31", "2024-09-01", [group("S3", "1", unblended="1", amortized="1")])]
    }
    september = {
        "ResultsByTime": [
            day("2024-09-01", "2024-09-02", [group("S3", "1", unblended="2", amortized="2")], estimated=True)
        ]
    }
    queue([august, september])
    cache: dict[str, str] = {}
    first = rows_of(AwsCostExplorerSource(client, date(2024, 8, 31), date(2024, 9, 2), page_cache=cache))
    assert len(calls) == 2 and len(cache) == 1  # one request per month; only the final month is cached
    second = rows_of(AwsCostExplorerSource(client, date(2024, 8, 31), date(2024, 9, 2), page_cache=cache))
    assert len(calls) == 3  # August came from the cache, September was asked again
    assert [r["billed_cost"] for r in first] == [r["billed_cost"] for r in second] == [Decimal(1), Decimal(2)]


@mock_aws
def test_tag_grouping_and_ungrouped_totals() -> None:
    client = boto3.client("ce", region_name="us-east-1")
    tagged = {
        "ResultsByTime": [
            day(
                "2024-09-01",
                "2024-09-02",
                [
                    group("AWS Lambda", "team$payments", unblended="4", amortized="4"),
                    group("AWS Lambda", "team$", unblended="1", amortized="1"),
                ],
            )
        ]
    }
    total_only = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2024-09-01", "End": "2024-09-02"},
                "Total": metrics("7", "6"),
                "Groups": [],
            }
        ]
    }
    queue([tagged, total_only])
    rows = rows_of(
        AwsCostExplorerSource(
            client, date(2024, 9, 1), date(2024, 9, 2), group_by=[("DIMENSION", "SERVICE")], tag_keys=["team"]
        )
    )
    assert [r["tags"] for r in rows] == [{"team": "payments"}, {}]
    assert rows[0]["service_name"] == "AWS Lambda"
    (total,) = rows_of(AwsCostExplorerSource(client, date(2024, 9, 1), date(2024, 9, 2), group_by=[]))
    assert (total["billed_cost"], total["effective_cost"]) == (Decimal(7), Decimal(6))


def test_too_many_groupings_is_refused() -> None:
    client = boto3.client("ce", region_name="us-east-1")
    with pytest.raises(ValueError, match="at most two"):
        AwsCostExplorerSource(client, date(2024, 9, 1), date(2024, 9, 2), tag_keys=["team"])


OK_RESPONSE = {
    "ResultsByTime": [day("2024-09-01", "2024-09-02", [group("EC2", "1", unblended="2", amortized="1")])],
    "DimensionValueAttributes": [],
}


def test_throttling_backs_off_then_succeeds() -> None:
    client = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    delays: list[float] = []
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", "LimitExceededException", http_status_code=400)
        stub.add_client_error("get_cost_and_usage", "ThrottlingException", http_status_code=400)
        stub.add_response("get_cost_and_usage", OK_RESPONSE)
        source = AwsCostExplorerSource(
            client, date(2024, 9, 1), date(2024, 9, 2), base_delay=0.5, sleep=delays.append
        )
        rows = rows_of(source)
        stub.assert_no_pending_responses()
    assert [r["billed_cost"] for r in rows] == [Decimal(2)]
    assert len(delays) == 2 and 0 <= delays[0] <= 0.5 and 0 <= delays[1] <= 1.0
    assert source.requests_made == 3


def test_throttling_gives_up_after_max_attempts_and_other_errors_are_not_retried() -> None:
    client = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    delays: list[float] = []
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("get_cost_and_usage", "LimitExceededException", http_status_code=400)
        source = AwsCostExplorerSource(
            client, date(2024, 9, 1), date(2024, 9, 2), max_attempts=3, sleep=delays.append
        )
        with pytest.raises(ClientError, match="LimitExceededException"):
            rows_of(source)
    assert len(delays) == 2
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", "AccessDeniedException", http_status_code=403)
        with pytest.raises(ClientError, match="AccessDenied"):
            rows_of(AwsCostExplorerSource(client, date(2024, 9, 1), date(2024, 9, 2), sleep=delays.append))
    assert len(delays) == 2
