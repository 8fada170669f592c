"""Rightsizing, storage tiering, spot candidates and commitments on crafted ledgers, each saving computed
here by hand from the shipped tables (data/sizes.csv, data/discounts.yaml)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

from tests.economist.test_recommendations_support import (
    days,
    economist_client,
    found,
    line,
    money,
    refresh,
    upload,
)

EC2 = {"service_category": "Compute", "service": "Amazon Elastic Compute Cloud", "type": "Instance"}


async def test_rightsizing_maps_p95_over_target_to_the_next_size(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("rs-acct")
    hourly = "$0.192 per On Demand Linux m5.xlarge Instance Hour"
    lines = [
        line(d, resource, "4.608", description=hourly, unit="Hrs", quantity="24", **EC2)
        for d in days(date(2032, 5, 1), 10)
        for resource in ("i-small-load", "i-busy", "i-posted-size")
    ]
    await upload(client, lines, account, unique("rs"))
    samples = ["10"] * 90 + ["20"] * 5 + ["90"] * 5  # nearest rank: p50 10, p95 20 (the 95th value), max 90
    posted = await client.post(
        "/api/v1/utilization", json={"resource_id": "i-small-load", "metric": "cpu", "samples": samples}
    )
    assert posted.status_code == 201, posted.text
    assert (
        posted.json()["p50"],
        posted.json()["p95"],
        posted.json()["max"],
        posted.json()["sample_count"],
    ) == ("10", "20", "90", 100)
    busy = {"resource_id": "i-busy", "metric": "cpu", "p95": "70"}
    # the posted size wins over the ledger's description: an m5.2xlarge (8 vCPU, 32 GiB) at cpu 20%, memory 30%
    sized = [
        {"resource_id": "i-posted-size", "metric": "cpu", "p95": "20", "size": "m5.2xlarge"},
        {"resource_id": "i-posted-size", "metric": "memory", "p95": "30", "size": "m5.2xlarge"},
    ]
    for body in (busy, *sized):
        assert (await client.post("/api/v1/utilization", json=body)).status_code == 201

    await refresh(client, date(2032, 5, 11), account)
    recs = await found(client, account, type="rightsize")

    monthly_cost = Decimal("46.08") * 730 / 240  # 10 days x 4.608 over 240 billed hours
    # i-small-load: 4 vCPU x 20% / 0.6 = 1.33 vCPU (memory scales: 5.33 GiB) -> m5.large (2, 8) at 0.096
    small = recs[("rightsize", "i-small-load")]
    assert small["estimated_monthly_saving"] == money(
        monthly_cost * (1 - Decimal("0.096") / Decimal("0.192"))
    )
    assert (small["evidence"]["current_size"], small["evidence"]["target_size"]) == ("m5.xlarge", "m5.large")
    assert small["confidence"] == "medium"  # memory was not posted
    # i-posted-size: 8 x 0.2 / 0.6 = 2.67 vCPU, 32 x 0.3 / 0.6 = 16 GiB -> m5.xlarge (4, 16) at 0.192 vs 0.384
    posted_size = recs[("rightsize", "i-posted-size")]
    assert posted_size["evidence"]["target_size"] == "m5.xlarge"
    assert posted_size["estimated_monthly_saving"] == money(
        monthly_cost * (1 - Decimal("0.192") / Decimal("0.384"))
    )
    assert posted_size["confidence"] == "high"
    # i-busy: 4 x 0.7 / 0.6 = 4.67 vCPU: nothing smaller fits
    assert ("rightsize", "i-busy") not in recs


async def test_storage_without_requests_moves_to_infrequent_access(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("st-acct")
    s3 = {"service_category": "Storage", "service": "Amazon Simple Storage Service", "type": "Bucket"}
    lines = []
    for d in days(date(2033, 2, 1), 10):
        for bucket in ("cold-bucket", "read-bucket"):
            lines.append(
                line(d, bucket, "2.30", sku="TimedStorage-ByteHrs", unit="GB-Mo", quantity="100", **s3)
            )
        lines.append(
            line(d, "read-bucket", "0.05", sku="Requests-Tier1", unit="Requests", quantity="10000", **s3)
        )
        lines.append(
            line(
                d,
                "ia-bucket",
                "1.25",
                sku="TimedStorage-SIA-ByteHrs",
                description="Standard-IA storage",
                unit="GB-Mo",
                quantity="100",
                **s3,
            )
        )
    await upload(client, lines, account, unique("st"))

    await refresh(client, date(2033, 2, 11), account)
    recs = await found(client, account)

    standard_monthly = Decimal("23.00") * 730 / 240
    assert set(recs) == {("storage_tiering", "cold-bucket")}  # the read bucket has requests; the IA one is IA
    cold = recs[("storage_tiering", "cold-bucket")]
    assert cold["estimated_monthly_saving"] == money(
        standard_monthly * (1 - Decimal("0.0125") / Decimal("0.023"))
    )
    assert cold["evidence"]["to_tier"] == "S3 Standard-IA"
    assert cold["evidence"]["standard_capacity_quantity"] == "1000"


async def test_steady_non_production_compute_is_a_spot_candidate(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("spot-acct")
    first, as_of = date(2034, 1, 1), date(2034, 1, 31)  # 30 days: the whole window
    lines = []
    for d in days(first, 30):
        lines.append(line(d, "i-dev", "2.40", tags={"Environment": "dev"}, unit="Hrs", quantity="24", **EC2))
        lines.append(
            line(d, "i-prod", "2.40", tags={"Environment": "prod"}, unit="Hrs", quantity="24", **EC2)
        )
        spot_priced = line(d, "i-dev-spot", "0.72", tags={"env": "dev"}, pricing="Dynamic", unit="Hrs", **EC2)
        lines.append(spot_priced)
    for d in days(first, 5):  # billed 5 of 30 days: not steady
        lines.append(line(d, "i-dev-short", "2.40", tags={"Environment": "staging"}, unit="Hrs", **EC2))
    await upload(client, lines, account, unique("spot"))

    await refresh(client, as_of, account)
    recs = await found(client, account, type="spot_candidate")

    assert set(recs) == {("spot_candidate", "i-dev")}
    dev = recs[("spot_candidate", "i-dev")]
    assert dev["estimated_monthly_saving"] == money(Decimal("72.00") * 730 / 720 * Decimal("0.70"))
    assert dev["evidence"]["environment"] == "dev" and dev["evidence"]["window_coverage"] == "1"


async def test_commitment_sized_from_the_p10_day_of_on_demand_spend(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("cm-acct")
    first, as_of = date(2035, 4, 1), date(2035, 5, 1)  # the 30 lookback days
    lines = []
    for i, d in enumerate(days(first, 30)):
        cost = "24.00" if i in (3, 11, 20) else "48.00"  # p10 of 30 days = the 3rd smallest = 24.00
        lines.append(line(d, "i-fleet", cost, unit="Hrs", quantity="250", **EC2))
        # covered by a savings plan: counts toward coverage, not toward the on-demand baseline
        lines.append(
            line(
                d,
                "i-covered",
                "12.00",
                pricing="Committed",
                commitment="sp-1",
                commitment_status="Used",
                **EC2,
            )
        )
    await upload(client, lines, account, unique("cm"))

    await refresh(client, as_of, account)
    recs = await found(client, account, type="commitment_purchase")

    rec = recs[("commitment_purchase", f"AWS/{account}/compute")]
    baseline = Decimal("24.00") / 24  # 1.00 per hour
    assert rec["estimated_monthly_saving"] == money(baseline * 730 * Decimal("0.28"))  # 1 year, no upfront
    evidence = rec["evidence"]
    assert evidence["baseline_per_hour"] == money(baseline)
    assert evidence["term_months"] == 12 and evidence["payment"] == "no_upfront"
    assert evidence["commitment_per_hour"] == money(baseline * Decimal("0.72"))
    assert evidence["break_even_month"] == 1
    on_demand, covered = Decimal(27 * 48 + 3 * 24), Decimal(30 * 12)
    assert evidence["coverage_now"] == str((covered / (on_demand + covered)).quantize(Decimal("0.0001")))
    after = (covered + Decimal(24 * 30)) / (on_demand + covered)
    assert evidence["coverage_after"] == str(after.quantize(Decimal("0.0001")))
    assert rec["confidence"] == "medium"  # steadiness 24 / 45.6 = 0.53
    # all upfront for a year at 31%: upfront 0.69 x 730 x 12 = 6044.40, nothing recurring, 730 on demand a month
    upfront = next(
        a for a in evidence["alternatives"] if a["payment"] == "all_upfront" and a["term_months"] == 12
    )
    assert upfront["upfront_payment"] == money(Decimal("0.69") * 730 * 12)
    assert upfront["break_even_month"] == math.ceil(Decimal("6044.40") / 730) == 9


async def test_underused_commitment_saves_its_unused_run_rate(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    client = await economist_client(settings, serve_app, keystore, unique)
    account = unique("cu-acct")
    commitment = unique("ri")
    lines = []
    for d in days(date(2036, 8, 1), 10):
        lines.append(
            line(
                d,
                "i-on-ri",
                "10.00",
                pricing="Committed",
                commitment=commitment,
                commitment_status="Used",
                **EC2,
            )
        )
        lines.append(
            line(
                d, None, "5.00", pricing="Committed", commitment=commitment, commitment_status="Unused", **EC2
            )
        )
        other = unique("full")
        lines.append(
            line(
                d,
                "i-on-full",
                "10.00",
                pricing="Committed",
                commitment=other,
                commitment_status="Used",
                **EC2,
            )
        )
    await upload(client, lines, account, unique("cu"))

    await refresh(client, date(2036, 8, 1) + timedelta(days=10), account)
    recs = await found(client, account, type="commitment_underused")

    assert set(recs) == {("commitment_underused", commitment)}
    rec = recs[("commitment_underused", commitment)]
    assert rec["estimated_monthly_saving"] == money(Decimal("50.00") * 730 / 240)
    assert rec["evidence"]["utilization"] == str((Decimal(100) / 150).quantize(Decimal("0.0001")))
