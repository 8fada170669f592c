"""POST /api/v1/ingestions in the background: focus-data-toolkit files (AWS FOCUS 1.2, Azure and GCP 1.3)
from an allow-listed folder match an independent Decimal sum of each file; the path allow-list; Cost
Explorer (moto) by period, where a re-run replaces its window and an adjacent window adds to it."""

from __future__ import annotations

import asyncio
import csv
import random
import shutil
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from moto import mock_aws

from economist.app import create_app
from economist.settings import EconomistSettings
from oco.money import quantize_money

MOTO_CE_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"
MOTO_RESET = "http://motoapi.amazonaws.com/moto-api/reset"


def toolkit() -> str:
    found = shutil.which("focus-toolkit") or str(Path(sys.executable).parent / "focus-toolkit")
    assert Path(found).exists(), "focus-data-toolkit is a dev dependency"
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One cost-and-usage file per provider, written by focus-toolkit."""
    out = tmp_path_factory.mktemp("focus-toolkit")
    files = {}
    for provider, version in (("aws", "1.2"), ("azure", "1.3"), ("gcp", "1.3")):
        folder = out / f"{provider}-{version}"
        subprocess.run(
            [
                toolkit(),
                "generate",
                "--provider",
                provider,
                "--focus-version",
                version,
                "--rows",
                "300",
                "--seed",
                "7",
                "--out",
                str(folder),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        (files[provider],) = folder.glob("*cost_and_usage*.csv")
    return files


def independent_totals(path: Path) -> tuple[dict[str, Decimal], set[str], date, date]:
    """BilledCost per provider (csv module + Decimal), the billing accounts, and the charge-day window."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    accounts, starts = set(), []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            totals[row["ProviderName"]] += Decimal(row["BilledCost"] or "0")
            accounts.add(row["BillingAccountId"])
            starts.append(date.fromisoformat(row["ChargePeriodStart"][:10]))
    return dict(totals), accounts, min(starts), max(starts) + timedelta(days=1)


@pytest.fixture
async def api(settings, serve_app, keystore, unique, tmp_path):  # type: ignore[no-untyped-def]
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    app_settings = EconomistSettings(
        _env_file=None,
        **settings.model_dump(),
        oco_economist_ingest_dirs=f"{allowed}, {tmp_path / 'also'}",
        oco_economist_ce_cache_dir=tmp_path / "ce-cache",
    )
    client = await serve_app(create_app(app_settings))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    client.allowed = allowed  # type: ignore[attr-defined]
    return client


async def finished(api, ingestion_id: int) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(400):
        record = (await api.get(f"/api/v1/ingestions/{ingestion_id}")).json()
        if record["status"] in ("succeeded", "failed"):
            return record
        await asyncio.sleep(0.025)
    raise AssertionError(f"ingestion {ingestion_id} did not finish")


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
async def test_toolkit_files_ingest_with_matching_totals(api, generated, provider) -> None:  # type: ignore[no-untyped-def]
    path = api.allowed / generated[provider].name
    shutil.copy(generated[provider], path)
    totals, accounts, first, last = independent_totals(path)

    started = await api.post("/api/v1/ingestions", json={"source": "focus", "options": {"path": str(path)}})
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("pending", "running", "succeeded")
    record = await finished(api, started.json()["id"])
    assert record["status"] == "succeeded", record["errors"]
    assert record["rows"] == 300 and record["filename"] == str(path)
    assert record["progress"]["bytes_read"] == record["progress"]["bytes_total"] == path.stat().st_size

    response = await api.get(
        "/api/v1/costs",
        params={
            "from": first.isoformat(),
            "to": last.isoformat(),
            "group_by": "provider",
            "filter": "billing_account:" + "|".join(sorted(accounts)),
        },
    )
    assert response.status_code == 200, response.text
    assert {r["provider"]: r["cost"] for r in response.json()["rows"]} == {
        p: str(quantize_money(v)) for p, v in totals.items()
    }


async def test_local_paths_must_be_under_the_allowed_folders(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside.csv"
    outside.write_text("x")
    link = api.allowed / "link.csv"
    link.symlink_to(outside)
    for path in (str(outside), str(link), str(api.allowed / ".." / "outside.csv"), "/etc/passwd"):
        response = await api.post("/api/v1/ingestions", json={"source": "focus", "options": {"path": path}})
        assert response.status_code == 400, path
        assert response.json()["error"]["code"] == "path_not_allowed"
    missing = await api.post(
        "/api/v1/ingestions", json={"source": "focus", "options": {"path": str(api.allowed / "no.csv")}}
    )
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "file_not_found"
    typo = await api.post("/api/v1/ingestions", json={"source": "focus", "options": {"paht": "x"}})
    assert typo.status_code == 400 and "paht" in typo.json()["error"]["message"]
    no_period = await api.post("/api/v1/ingestions", json={"source": "aws_cost_explorer"})
    assert no_period.status_code == 400 and no_period.json()["error"]["param"] == "period"
    backwards = await api.post(
        "/api/v1/ingestions",
        json={"source": "aws_cost_explorer", "period": {"start": "2024-02-01", "end": "2024-01-01"}},
    )
    assert backwards.status_code == 422


def ce_day(day: date, groups: list[tuple[str, str, str]]) -> dict:
    metrics = lambda amount: {  # noqa: E731
        "UnblendedCost": {"Amount": amount, "Unit": "USD"},
        "AmortizedCost": {"Amount": amount, "Unit": "USD"},
    }
    return {
        "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
        "Total": {},
        "Groups": [
            {"Keys": [service, account], "Metrics": metrics(amount)} for service, account, amount in groups
        ],
        "Estimated": True,  # never cached: each run asks again
    }


@pytest.fixture
def aws():  # type: ignore[no-untyped-def]
    with mock_aws():
        yield


async def test_cost_explorer_periods_replace_their_window_only(api, aws) -> None:  # type: ignore[no-untyped-def]
    account = str(random.randint(10**11, 10**12 - 1))
    d1, d2, d3 = date(2023, 3, 1), date(2023, 3, 2), date(2023, 3, 3)

    async def ingest(start: date, end: date, pages: list[dict]) -> dict:
        requests.post(MOTO_RESET, timeout=5)  # moto answers a repeated request with its first result
        assert requests.post(MOTO_CE_RESULTS, json={"results": pages}, timeout=5).status_code == 201
        period = {"start": start.isoformat(), "end": end.isoformat()}
        response = await api.post(
            "/api/v1/ingestions", json={"source": "aws_cost_explorer", "period": period}
        )
        assert response.status_code == 202, response.text
        return await finished(api, response.json()["id"])

    async def by_service() -> dict[str, str]:
        params = {
            "from": "2023-03-01",
            "to": "2023-03-05",
            "group_by": "service",
            "filter": f"account:{account}",
        }
        return {
            r["service"]: r["cost"] for r in (await api.get("/api/v1/costs", params=params)).json()["rows"]
        }

    page_1 = {"NextPageToken": "p2", "ResultsByTime": [ce_day(d1, [("Amazon EC2", account, "10.5")])]}
    page_2 = {"ResultsByTime": [ce_day(d2, [("Amazon EC2", account, "4.25"), ("Amazon S3", account, "1")])]}
    first = await ingest(d1, d3, [page_1, page_2])
    assert first["status"] == "succeeded" and first["rows"] == 3, first
    assert first["period"] == {"start": "2023-03-01", "end": "2023-03-03"}
    assert await by_service() == {"Amazon EC2": "14.750000", "Amazon S3": "1.000000"}

    # the estimate for 2 March was revised: the same window again replaces it, nothing doubles
    revised = {
        "ResultsByTime": [
            ce_day(d1, [("Amazon EC2", account, "10.5")]),
            ce_day(d2, [("Amazon EC2", account, "5")]),
        ]
    }
    second = await ingest(d1, d3, [revised])
    assert second["replaced_rows"] >= 3
    assert await by_service() == {"Amazon EC2": "15.500000"}

    # the next window adds to the ledger and leaves 1-2 March alone
    third = await ingest(
        d3, d3 + timedelta(days=1), [{"ResultsByTime": [ce_day(d3, [("Amazon S3", account, "2")])]}]
    )
    assert third["replaced_rows"] == 0
    assert await by_service() == {"Amazon EC2": "15.500000", "Amazon S3": "2.000000"}


async def test_window_cuts_a_file_to_the_period(api, generated) -> None:  # type: ignore[no-untyped-def]
    path = api.allowed / "cut.csv"
    shutil.copy(generated["gcp"], path)
    with path.open(newline="") as handle:
        days = [date.fromisoformat(r["ChargePeriodStart"][:10]) for r in csv.DictReader(handle)]
    start = min(days)
    end = start + timedelta(days=3)
    period = {"start": start.isoformat(), "end": end.isoformat()}
    response = await api.post(
        "/api/v1/ingestions", json={"source": "focus", "period": period, "options": {"path": str(path)}}
    )
    record = await finished(api, response.json()["id"])
    assert record["status"] == "succeeded"
    assert record["rows"] == sum(start <= d < end for d in days) < record["progress"]["rows_read"] == 300


@pytest.mark.parametrize("detailed", [True, False], ids=["detailed", "standard+catalog"])
async def test_gcp_bigquery_through_the_api(settings, serve_app, keystore, unique, detailed: bool) -> None:  # type: ignore[no-untyped-def]
    from tests.economist.fakes.gcp import BigQueryFake, CatalogFake, catalog_sku
    from tests.economist.fakes.http import LoopbackServer
    from tests.economist.test_source_gcp import COMPUTE, PROJECT, RECORDS, TABLE

    project = f"proj-{uuid.uuid4().hex[:8]}"
    records = [{**r, "project": {**r["project"], "id": project}} for r in RECORDS]
    skus = [catalog_sku(COMPUTE, "CP-N1-CORE", [(0, "0", 31611000)])]
    with (
        LoopbackServer(BigQueryFake(PROJECT, TABLE, records)) as bigquery_server,
        LoopbackServer(catalog := CatalogFake(COMPUTE, skus)) as catalog_server,
    ):
        # the service's own clients, pointed at the fakes by configuration (anonymous: no ADC here)
        app_settings = EconomistSettings(
            _env_file=None,
            **settings.model_dump(),
            oco_economist_gcp_project=PROJECT,
            oco_economist_bigquery_endpoint=bigquery_server.url,
            oco_economist_gcp_catalog_endpoint=catalog_server.url,
        )
        client = await serve_app(create_app(app_settings))
        client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
        body = {
            "source": "gcp_bigquery",
            "period": {"start": "2024-09-01", "end": "2024-09-03"},
            "options": {"table": TABLE, "detailed": detailed, "list_prices": not detailed},
        }
        response = await client.post("/api/v1/ingestions", json=body)
        assert response.status_code == 202, response.text
        record = await finished(client, response.json()["id"])
    assert record["status"] == "succeeded", record["errors"]
    assert record["rows"] == 5 and record["totals"] == {"USD": "1.894833"}
    window = {"from": "2024-09-01", "to": "2024-09-03", "filter": f"account:{project}"}
    costs = await client.get(
        "/api/v1/costs", params={**window, "group_by": "provider,charge_category", "metric": "effective"}
    )
    assert {(r["provider"], r["charge_category"]): r["cost"] for r in costs.json()["rows"]} == {
        ("Google Cloud", "Usage"): "0.381189",  # 3 x 0.031611 + 0.3 - 0.013644 of credits
        ("Google Cloud", "Tax"): "1.500000",
    }
    listed = await client.get("/api/v1/costs", params={**window, "metric": "list"})
    if detailed:  # price.list_price of the export
        assert listed.json()["total"] == "0.237500"  # 5 rows of 1 hour x 0.0475
        assert catalog.requests == []
    else:  # the catalog's price of the SKU, loaded once for the service
        assert len(catalog.requests) == 1
        assert listed.json()["total"] == "0.158055"  # 5 rows of 1 hour of CP-N1-CORE x 0.031611


async def test_focus_file_from_s3(api, aws) -> None:  # type: ignore[no-untyped-def]
    import boto3

    from economist.demo import sample_path

    sample = sample_path()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="billing")
    key = f"focus/2024-09/{sample.name}"
    s3.put_object(Bucket="billing", Key=key, Body=sample.read_bytes())
    # the origin is the object's file name: the upload tests' later loads of the sample replace this one
    body = {"source": "focus", "options": {"bucket": "billing", "key": key}}
    response = await api.post("/api/v1/ingestions", json=body)
    assert response.status_code == 202, response.text
    record = await finished(api, response.json()["id"])
    assert record["status"] == "succeeded" and record["rows"] == 1000
    assert record["progress"]["bytes_total"] == sample.stat().st_size
    missing = await api.post(
        "/api/v1/ingestions", json={"source": "aws_cur", "options": {"bucket": "billing"}}
    )
    assert missing.status_code == 400
