"""AWS CUR 2.0 files: amortization by line item type checked against hand-computed values, legacy headers,
Parquet with a map column, S3, and strict errors."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from economist.sources import AwsCurSource, SourceRowError

COLUMNS = [
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "bill_payer_account_id",
    "bill_invoicing_entity",
    "line_item_usage_account_id",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_usage_amount",
    "line_item_currency_code",
    "line_item_unblended_cost",
    "line_item_resource_id",
    "line_item_line_item_description",
    "product_servicecode",
    "product_region_code",
    "pricing_public_on_demand_cost",
    "pricing_unit",
    "pricing_term",
    "savings_plan_savings_plan_a_r_n",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "reservation_reservation_a_r_n",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "resource_tags",
]
SP = "arn:aws:savingsplans::111111111111:savingsplan/sp-1"
RI = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1"

# (type, unblended, on-demand, extra columns, expected effective, expected category)
LINES = [
    ("Usage", "1.00", "1.00", {"pricing_term": "OnDemand"}, "1.00", "Usage"),
    ("SavingsPlanCoveredUsage", "2.00", "2.00",
     {"savings_plan_savings_plan_a_r_n": SP, "savings_plan_savings_plan_effective_cost": "1.20"}, "1.20", "Usage"),
    ("SavingsPlanNegation", "-2.00", "", {"savings_plan_savings_plan_a_r_n": SP}, "0", "Usage"),
    ("SavingsPlanRecurringFee", "1.50", "",
     {"savings_plan_savings_plan_a_r_n": SP, "savings_plan_total_commitment_to_date": "1.50",
      "savings_plan_used_commitment": "1.20"}, "0.30", "Purchase"),
    ("DiscountedUsage", "0", "0.50",
     {"reservation_reservation_a_r_n": RI, "reservation_effective_cost": "0.40"}, "0.40", "Usage"),
    ("RIFee", "0.35", "",
     {"reservation_reservation_a_r_n": RI, "reservation_unused_amortized_upfront_fee_for_billing_period": "0.05",
      "reservation_unused_recurring_fee": "0.02"}, "0.07", "Purchase"),
    ("Fee", "100", "", {"reservation_reservation_a_r_n": RI}, "0", "Purchase"),
    ("Tax", "0.80", "", {}, "0.80", "Tax"),
    ("Credit", "-0.50", "", {}, "-0.50", "Credit"),
    ("Refund", "-0.25", "", {}, "-0.25", "Adjustment"),
]  # fmt: skip
BILLED_TOTAL = Decimal("102.90")  # 1 + 2 - 2 + 1.5 + 0 + 0.35 + 100 + 0.8 - 0.5 - 0.25
EFFECTIVE_TOTAL = Decimal("3.02")  # 1 + 1.2 + 0 + 0.3 + 0.4 + 0.07 + 0 + 0.8 - 0.5 - 0.25


def cur_records() -> list[dict[str, str]]:
    records = []
    for number, (kind, unblended, on_demand, extra, _effective, _category) in enumerate(LINES):
        record = dict.fromkeys(COLUMNS, "")
        record.update(
            bill_billing_period_start_date="2024-09-01T00:00:00.000Z",
            bill_billing_period_end_date="2024-10-01T00:00:00.000Z",
            bill_payer_account_id="999999999999",
            bill_invoicing_entity="Amazon Web Services, Inc.",
            line_item_usage_account_id="111111111111",
            line_item_line_item_type=kind,
            line_item_usage_start_date=f"2024-09-0{1 + number % 3}T10:00:00.000Z",
            line_item_usage_end_date=f"2024-09-0{1 + number % 3}T11:00:00.000Z",
            line_item_product_code="AmazonEC2",
            line_item_usage_amount="1",
            line_item_currency_code="USD",
            line_item_unblended_cost=unblended,
            line_item_resource_id="i-0abc" if "Usage" in kind else "",
            line_item_line_item_description=f"{kind} line",
            product_servicecode="AmazonEC2",
            product_region_code="us-east-1",
            pricing_public_on_demand_cost=on_demand,
            pricing_unit="Hrs",
            resource_tags=json.dumps({"user_team": "payments", "aws_createdBy": "ci"}) if number == 0 else "",
        )
        record.update(extra)
        records.append(record)
    return records


def write_cur_csv(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(cur_records())
    return path


def all_rows(source) -> list[dict]:
    return [row for batch in source.batches(3) for row in batch.rows]


def test_amortization_by_line_item_type(tmp_path: Path) -> None:
    rows = all_rows(AwsCurSource(write_cur_csv(tmp_path / "cur.csv")))
    assert len(rows) == len(LINES)
    for row, (kind, unblended, _od, _extra, effective, category) in zip(rows, LINES, strict=True):
        assert row["billed_cost"] == Decimal(unblended), kind
        assert row["effective_cost"] == Decimal(effective), kind
        assert row["charge_category"] == category, kind
    assert sum((r["billed_cost"] for r in rows), Decimal(0)) == BILLED_TOTAL
    assert sum((r["effective_cost"] for r in rows), Decimal(0)) == EFFECTIVE_TOTAL
    usage, covered, _neg, sp_fee, discounted, ri_fee = rows[:6]
    assert usage["tags"] == {"team": "payments", "aws_createdBy": "ci"}
    assert usage["list_cost"] == Decimal("1.00") and usage["pricing_category"] == "Standard"
    assert (covered["commitment_discount_id"], covered["commitment_discount_status"]) == (SP, "Used")
    assert (
        covered["commitment_discount_type"] == "Savings Plan" and covered["pricing_category"] == "Committed"
    )
    assert (
        sp_fee["commitment_discount_status"] == "Unused" and ri_fee["commitment_discount_status"] == "Unused"
    )
    assert discounted["commitment_discount_type"] == "Reserved Instance"
    assert usage["service_name"] == "AmazonEC2" and usage["region_id"] == "us-east-1"
    assert usage["billing_account_id"] == "999999999999" and usage["sub_account_id"] == "111111111111"
    assert usage["provider_name"] == "AWS" and usage["resource_id"] == "i-0abc"
    assert usage["charge_period_start"] == datetime(2024, 9, 1, 10, tzinfo=UTC)
    assert usage["billing_period_end"] == datetime(2024, 10, 1, tzinfo=UTC)
    assert usage["consumed_quantity"] == Decimal(1) and usage["consumed_unit"] == "Hrs"


def test_parquet_with_map_tags_and_gzip_give_the_same_rows(tmp_path: Path) -> None:
    records = cur_records()
    columns = {name: [r[name] for r in records] for name in COLUMNS if name != "resource_tags"}
    table = pa.table(columns).append_column(
        "resource_tags",
        pa.array(
            [[("user_team", "payments"), ("aws_createdBy", "ci")]] + [[]] * (len(records) - 1),
            type=pa.map_(pa.string(), pa.string()),
        ),
    )
    parquet = tmp_path / "cur.parquet"
    pq.write_table(table, parquet)
    gz = tmp_path / "cur.csv.gz"
    gz.write_bytes(gzip.compress(write_cur_csv(tmp_path / "plain.csv").read_bytes()))
    expected = all_rows(AwsCurSource(tmp_path / "plain.csv"))
    assert all_rows(AwsCurSource(parquet)) == expected
    assert all_rows(AwsCurSource(gz)) == expected


def test_legacy_cur_headers(tmp_path: Path) -> None:
    text = (
        "identity/LineItemId,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/LineItemType,"
        "lineItem/UnblendedCost,lineItem/CurrencyCode,product/servicecode,"
        "savingsPlan/SavingsPlanEffectiveCost,savingsPlan/SavingsPlanARN,resourceTags/user:Team\n"
        "a,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,SavingsPlanCoveredUsage,0.5,USD,AmazonEC2,0.3,arn:sp,web\n"
    )
    path = tmp_path / "legacy.csv"
    path.write_text(text)
    (row,) = all_rows(AwsCurSource(path))
    assert (row["billed_cost"], row["effective_cost"]) == (Decimal("0.5"), Decimal("0.3"))
    assert row["tags"] == {"Team": "web"} and row["commitment_discount_id"] == "arn:sp"


def test_bad_value_and_missing_column(tmp_path: Path) -> None:
    path = write_cur_csv(tmp_path / "cur.csv")
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace(",1.50,", ",1.5O,", 1)  # line 5: the SavingsPlanRecurringFee row
    path.write_text("".join(lines))
    with pytest.raises(SourceRowError) as caught:
        all_rows(AwsCurSource(path, filename="cur.csv"))
    assert (caught.value.line, caught.value.column) == (5, "line_item_unblended_cost")
    missing = tmp_path / "missing.csv"
    missing.write_text("line_item_usage_start_date,line_item_unblended_cost\n2024-09-01,1\n")
    with pytest.raises(SourceRowError) as caught:
        all_rows(AwsCurSource(missing))
    assert (caught.value.line, caught.value.column) == (1, "line_item_usage_end_date")


@mock_aws
def test_from_s3_prefix(tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="cur")
    body = write_cur_csv(tmp_path / "cur.csv").read_bytes()
    s3.put_object(
        Bucket="cur", Key="exports/data/BILLING_PERIOD=2024-09/part-0.csv.gz", Body=gzip.compress(body)
    )
    s3.put_object(
        Bucket="cur", Key="exports/data/BILLING_PERIOD=2024-09/part-1.csv.gz", Body=gzip.compress(body)
    )
    s3.put_object(Bucket="cur", Key="exports/metadata/manifest.json", Body=io.BytesIO(b"{}").read())
    rows = all_rows(AwsCurSource.from_s3("cur", "exports/", s3_client=s3))
    assert len(rows) == 2 * len(LINES)
    assert sum((r["effective_cost"] for r in rows), Decimal(0)) == 2 * EFFECTIVE_TOTAL
