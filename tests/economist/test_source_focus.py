"""FOCUS files: the FinOps Foundation sample with its quirks, focus-data-toolkit files (1.2/1.3, three
providers) in CSV, CSV.gz and Parquet, uploads as file objects, S3, and malformed files."""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from economist.demo import sample_path
from economist.ledger.columns import COLUMN_NAMES
from economist.sources import SourceRowError, open_focus_source, open_focus_source_s3

SAMPLE = sample_path()
TOOLKIT = Path(sys.executable).with_name("focus-toolkit")


def totals_by_provider(source, batch_size: int = 256) -> tuple[dict[str, Decimal], int]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    count = 0
    for batch in source.batches(batch_size):
        assert 0 < len(batch.rows) <= batch_size
        for row in batch.rows:
            assert set(row) == set(COLUMN_NAMES)
            assert isinstance(row["billed_cost"], Decimal)
            totals[row["provider_name"]] += row["billed_cost"]
            count += 1
    return dict(totals), count


def cents(totals: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: v.quantize(Decimal("0.01")) for k, v in totals.items()}


# -- the FinOps Foundation sample -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Path:
    return SAMPLE


def test_sample_parses_all_rows_and_totals_match_an_independent_sum(sample: Path) -> None:
    expected: dict[str, Decimal] = defaultdict(Decimal)
    with open(sample, newline="", encoding="utf-8-sig") as f:
        for record in csv.DictReader(f):
            expected[record["ProviderName"]] += Decimal(record["BilledCost"])
    totals, count = totals_by_provider(open_focus_source(sample))
    assert count == 1000
    assert set(totals) == {"AWS", "Microsoft", "Oracle"}
    assert cents(totals) == cents(expected)
    assert totals == expected  # exact, not only to the cent


def test_sample_quirks_are_normalized(sample: Path) -> None:
    rows = [row for batch in open_focus_source(sample).batches() for row in batch.rows]
    # 'Usage-based' (7 rows) and 'Usage-Based' fold to the spec's spelling
    assert {r["charge_frequency"] for r in rows} == {"Usage-Based", "One-Time"}
    # literal NULL -> None, never the string
    assert all(r["charge_class"] is None for r in rows)
    assert sum(r["contracted_cost"] is None for r in rows) == 7
    assert not any(v == "NULL" for r in rows for v in r.values())
    # quoted numbers are Decimals; dates are UTC-aware
    first = rows[0]
    assert first["list_unit_price"] == Decimal("0.0000004")
    assert first["charge_period_start"] == datetime(2024, 9, 18, 22, tzinfo=UTC)
    assert first["billing_period_end"] == datetime(2024, 10, 1, tzinfo=UTC)
    tagged = [r for r in rows if r["tags"]]
    assert len(tagged) == 711
    assert rows[1]["tags"] == {
        "application": "BrightLensMatrix",
        "environment": "dev",
        "business_unit": "ViennaAI",
    }


def test_progress_reaches_the_file_size(sample: Path) -> None:
    batches = list(open_focus_source(sample).batches(300))
    assert [len(b.rows) for b in batches] == [300, 300, 300, 100]
    reads = [b.progress.bytes_read for b in batches]
    assert reads == sorted(reads)
    assert batches[-1].progress.rows_read == 1000
    assert batches[-1].progress.bytes_read == batches[-1].progress.bytes_total == sample.stat().st_size


# -- focus-data-toolkit files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toolkit_files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    if not TOOLKIT.exists():
        pytest.fail("focus-toolkit (focus-data-toolkit, a dev dependency) is not installed")
    out = tmp_path_factory.mktemp("focus-toolkit")
    files: dict[tuple[str, str], Path] = {}
    for provider in ("aws", "azure", "gcp"):
        for version in ("1.2", "1.3"):
            folder = out / f"{provider}-{version}"
            subprocess.run(
                [str(TOOLKIT), "generate", "--provider", provider, "--focus-version", version,
                 "--rows", "300", "--seed", "7", "--out", str(folder)],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            (path,) = folder.glob("focus_*_cost_and_usage_*.csv")
            files[(provider, version)] = path
    return files


def independent_totals(path: Path) -> dict[str, Decimal]:
    """Per-provider BilledCost read by pyarrow as text and summed as Decimal."""
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            include_columns=["ProviderName", "BilledCost"],
            column_types={"ProviderName": pa.string(), "BilledCost": pa.string()},
        ),
    )
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for provider, cost in zip(
        table.column("ProviderName").to_pylist(), table.column("BilledCost").to_pylist(), strict=True
    ):
        totals[provider] += Decimal(cost)
    return dict(totals)


PROVIDER_CASES = [(p, v) for p in ("aws", "azure", "gcp") for v in ("1.2", "1.3")]


@pytest.mark.parametrize(("provider", "version"), PROVIDER_CASES)
def test_toolkit_csv_totals_match(toolkit_files, provider: str, version: str) -> None:
    path = toolkit_files[(provider, version)]
    totals, count = totals_by_provider(open_focus_source(path))
    assert count == 300
    assert totals == independent_totals(path)


@pytest.mark.parametrize(("provider", "version"), [("aws", "1.3"), ("azure", "1.2"), ("gcp", "1.3")])
def test_gzip_and_parquet_variants_give_identical_totals(
    toolkit_files, tmp_path: Path, provider: str, version: str
) -> None:
    path = toolkit_files[(provider, version)]
    expected = independent_totals(path)
    # gzip, named .csv on purpose: the format is detected from the magic bytes
    gz = tmp_path / "disguised.csv"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    # Parquet with inferred types (float64 money, timestamp[tz=UTC] dates, string tags)
    typed = tmp_path / "typed.parquet"
    pq.write_table(pacsv.read_csv(path), typed)
    # Parquet with money as decimal128
    table = pacsv.read_csv(
        path, convert_options=pacsv.ConvertOptions(column_types={"BilledCost": pa.decimal128(38, 20)})
    )
    decimal_parquet = tmp_path / "decimal.parquet"
    pq.write_table(table, decimal_parquet, row_group_size=64)
    for variant in (gz, typed, decimal_parquet):
        totals, count = totals_by_provider(open_focus_source(variant), batch_size=100)
        assert count == 300, variant
        assert totals == expected, variant
    csv_rows = [r for b in open_focus_source(path).batches() for r in b.rows]
    pq_rows = [r for b in open_focus_source(typed).batches() for r in b.rows]
    for a, b in zip(csv_rows, pq_rows, strict=True):
        assert a["charge_period_start"] == b["charge_period_start"]
        assert a["effective_cost"] == b["effective_cost"]
        assert a["tags"] == b["tags"]


def test_upload_file_objects(toolkit_files) -> None:
    path = toolkit_files[("gcp", "1.2")]
    expected = independent_totals(path)
    for payload in (path.read_bytes(), gzip.compress(path.read_bytes())):
        with tempfile.SpooledTemporaryFile(max_size=1024) as upload:
            upload.write(payload)
            upload.seek(0)
            source = open_focus_source(upload, filename="upload.csv")
            totals, _ = totals_by_provider(source)
            assert totals == expected
    # a non-seekable stream (a pipe) works for CSV too
    totals, _ = totals_by_provider(open_focus_source(NonSeekable(path.read_bytes()), filename="pipe"))
    assert totals == expected
    # Parquet uploads (seekable spooled files)
    buffer = io.BytesIO()
    pq.write_table(pacsv.read_csv(path), buffer)
    with tempfile.SpooledTemporaryFile(max_size=10 * 1024 * 1024) as upload:
        upload.write(buffer.getvalue())
        upload.seek(0)
        totals, count = totals_by_provider(open_focus_source(upload, filename="upload.parquet"))
        assert count == 300 and totals == expected
    with pytest.raises(SourceRowError) as caught:
        list(open_focus_source(NonSeekable(buffer.getvalue()), filename="pipe.parquet").batches())
    assert (caught.value.line, caught.value.message) == (1, "Parquet needs a seekable file")


class NonSeekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_from_s3(toolkit_files) -> None:
    path = toolkit_files[("aws", "1.2")]
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="billing")
        s3.put_object(
            Bucket="billing", Key="focus/2026-05/part-1.csv.gz", Body=gzip.compress(path.read_bytes())
        )
        s3.put_object(Bucket="billing", Key="focus/2026-05/part-2.csv", Body=path.read_bytes())
        s3.put_object(Bucket="billing", Key="focus/2026-05/manifest.json", Body=b"{}")
        single = open_focus_source_s3("billing", "focus/2026-05/part-2.csv", s3_client=s3)
        totals, count = totals_by_provider(single)
        assert count == 300 and totals == independent_totals(path)
        prefix = open_focus_source_s3("billing", "focus/2026-05/", s3_client=s3)
        batches = list(prefix.batches(200))
        assert batches[-1].progress.rows_read == 600
        assert batches[-1].progress.bytes_read == batches[-1].progress.bytes_total
        total = sum((r["billed_cost"] for b in batches for r in b.rows), Decimal(0))
        assert total == 2 * sum(independent_totals(path).values())


# -- tolerance and strictness ------------------------------------------------------------------------------

QUIRKY = (
    "\ufeff BilledCost ,amortizedcost,ListCost,ContractedCost,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,"
    "ChargePeriodStart,ChargePeriodEnd,ChargeType,ChargeFrequency,Provider,ServiceName,BillingAccountId,"
    "PricingQuantity,Id,x_Custom,Tags,CommitmentDiscountStatus\n"
    '"1.5E-3",0.001,NULL,,USD,2024-09-01T00:00:00Z,2024-10-01T00:00:00Z,'
    '2024-09-02 05:00:00,2024-09-02T06:00:00+01:00,usage,usage-based,AWS,EC2,1,"12",7,junk,,used\n'
    '"2",  3  ,4,5,EUR,2024-09-01,2024-10-01,2024-09-02T00:00:00.1234567Z,2024-09-03T00:00:00Z,'
    'CREDIT,One-time,Azure,"multi\nline",1,1e2,8,junk,"{""Env"": ""prod"", ""n"": 3}",NULL\n'
)


def test_quirks_and_preview_names(tmp_path: Path) -> None:
    path = tmp_path / "quirky.csv"
    path.write_text(QUIRKY, encoding="utf-8")
    rows = [r for b in open_focus_source(path).batches() for r in b.rows]
    assert len(rows) == 2
    a, b = rows
    assert a["billed_cost"] == Decimal("0.0015") and a["effective_cost"] == Decimal("0.001")
    assert a["list_cost"] is None and a["contracted_cost"] is None
    assert a["charge_category"] == "Usage" and a["charge_frequency"] == "Usage-Based"
    assert a["commitment_discount_status"] == "Used"
    assert a["charge_period_start"] == datetime(2024, 9, 2, 5, tzinfo=UTC)
    assert a["charge_period_end"] == datetime(2024, 9, 2, 5, tzinfo=UTC)  # 06:00+01:00
    assert a["pricing_quantity"] == Decimal(12) and a["tags"] == {}
    assert a["provider_name"] == "AWS"
    assert b["effective_cost"] == Decimal(3) and b["billing_currency"] == "EUR"
    assert b["charge_category"] == "Credit" and b["charge_frequency"] == "One-Time"
    assert b["service_name"] == "multi\nline"
    assert b["pricing_quantity"] == Decimal(100)
    assert b["charge_period_start"] == datetime(2024, 9, 2, 0, 0, 0, 123456, tzinfo=UTC)
    assert b["billing_period_start"] == datetime(2024, 9, 1, tzinfo=UTC)
    assert b["tags"] == {"Env": "prod", "n": "3"}


def write_with(path: Path, source: Path, change) -> list[str]:
    with open(source, newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    header = change(records)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(records)
    return header


@pytest.mark.parametrize(
    ("column", "bad", "message"),
    [
        ("BilledCost", "12,50", "not a number"),
        ("PricingQuantity", "lots", "not a number"),
        ("ChargePeriodStart", "31/05/2026", "not an ISO 8601"),
        ("Tags", "{not json", "not a JSON object"),
        ("BilledCost", "NULL", "a value is required"),
    ],
)
def test_bad_value_reports_line_and_column(toolkit_files, tmp_path: Path, column, bad, message) -> None:
    bad_path = tmp_path / "bad.csv"
    data_index = 137  # the 137th data record -> line 138

    def change(records: list[list[str]]) -> list[str]:
        records[data_index][records[0].index(column)] = bad
        return records[0]

    write_with(bad_path, toolkit_files[("aws", "1.3")], change)
    with pytest.raises(SourceRowError) as caught:
        for _ in open_focus_source(bad_path, filename="bad.csv").batches(50):
            pass
    err = caught.value
    assert (err.file, err.line, err.column) == ("bad.csv", data_index + 1, column)
    assert message in err.message
    assert str(err).startswith(f"bad.csv:{data_index + 1}: column {column}: ")


def test_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    text = QUIRKY + '"oops",1,1,1,USD,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,,AWS,S,1,1,9,,,\n'
    path = tmp_path / "multi.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceRowError) as caught:
        list(open_focus_source(path).batches())
    assert (caught.value.line, caught.value.column) == (5, "BilledCost")  # record 2 spans lines 3-4


def test_missing_required_column_is_line_1(toolkit_files, tmp_path: Path) -> None:
    bad_path = tmp_path / "missing.csv"

    def drop(records: list[list[str]]) -> list[str]:
        at = records[0].index("BillingCurrency")
        for record in records:
            del record[at]
        return records[0]

    write_with(bad_path, toolkit_files[("azure", "1.3")], drop)
    with pytest.raises(SourceRowError) as caught:
        next(open_focus_source(bad_path).batches())
    assert (caught.value.line, caught.value.column) == (1, "BillingCurrency")


def test_ragged_record_and_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceRowError) as caught:
        list(open_focus_source(empty).batches())
    assert caught.value.line == 1
    short = tmp_path / "short.csv"
    short.write_text(QUIRKY.splitlines()[0] + "\n1,2,3\n", encoding="utf-8")
    with pytest.raises(SourceRowError) as caught:
        list(open_focus_source(short).batches())
    assert (caught.value.line, caught.value.column) == (2, "ContractedCost")


def test_bad_value_in_parquet_reports_row_as_line(tmp_path: Path) -> None:
    table = pa.table(
        {
            "BilledCost": ["1", "2", "x"],
            "EffectiveCost": ["1", "2", "3"],
            "BillingCurrency": ["USD"] * 3,
            "BillingPeriodStart": ["2024-09-01"] * 3,
            "BillingPeriodEnd": ["2024-10-01"] * 3,
            "ChargePeriodStart": ["2024-09-01"] * 3,
            "ChargePeriodEnd": ["2024-09-02"] * 3,
            "ChargeCategory": ["Usage"] * 3,
            "ProviderName": ["AWS"] * 3,
        }
    )
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    with pytest.raises(SourceRowError) as caught:
        list(open_focus_source(path).batches())
    assert (caught.value.line, caught.value.column) == (4, "BilledCost")


def test_sample_is_left_untouched(sample: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.csv"
    shutil.copy(sample, copy)
    list(open_focus_source(copy).batches())
    assert copy.read_bytes() == sample.read_bytes()


def test_service_provider_name_stands_in_for_provider_name(toolkit_files, tmp_path: Path) -> None:
    path = tmp_path / "no-provider-name.csv"

    def drop(records: list[list[str]]) -> list[str]:
        at = records[0].index("ProviderName")
        for record in records:
            del record[at]
        return records[0]

    write_with(path, toolkit_files[("aws", "1.3")], drop)
    totals, count = totals_by_provider(open_focus_source(path))
    assert count == 300 and set(totals) == {"AWS"}
