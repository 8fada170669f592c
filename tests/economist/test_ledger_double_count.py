"""A ledger that never double counts, through the upload and ingestion API on either back end: the same bill
under any name, compression or format (CSV, csv.gz, Parquet, S3) counts once; a corrected re-export replaces
the earlier one; parts of one export add up, given together (several files in one upload, a folder, a
manifest) or one by one when their names number them; a file of other days leaves the earlier days alone."""

from __future__ import annotations

import asyncio
import gzip
import io
import json

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from economist.app import create_app
from economist.demo import sample_path
from economist.settings import EconomistSettings
from tests.economist.test_ingestion_slices import focus_file
from tests.economist.test_ingestion_upload import file_totals

SAMPLE = sample_path()
SAMPLE_TOTAL = "20.520227"


@pytest.fixture
async def api(settings, serve_app, keystore, unique, tmp_path):  # type: ignore[no-untyped-def]
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    app_settings = EconomistSettings(
        _env_file=None, **settings.model_dump(), oco_economist_ingest_dirs=str(allowed)
    )
    client = await serve_app(create_app(app_settings))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    client.allowed = allowed  # type: ignore[attr-defined]
    return client


async def upload(api, *files: tuple[str, bytes]) -> dict:  # type: ignore[no-untyped-def]
    parts = [("file", (name, body, "application/octet-stream")) for name, body in files]
    response = await api.post("/api/v1/ingestions/upload", files=parts)
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["status"] == "succeeded"
    return record


async def total(api, account: str) -> str:  # type: ignore[no-untyped-def]
    params = {"from": "2024-09-01", "to": "2024-10-01", "filter": f"billing_account:{account}"}
    response = await api.get("/api/v1/costs", params=params)
    assert response.status_code == 200, response.text
    return response.json()["total"]


async def finished(api, ingestion_id: int) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(400):
        record = (await api.get(f"/api/v1/ingestions/{ingestion_id}")).json()
        if record["status"] in ("succeeded", "failed"):
            return record
        await asyncio.sleep(0.025)
    raise AssertionError(f"ingestion {ingestion_id} did not finish")


def as_parquet(csv_bytes: bytes) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pacsv.read_csv(io.BytesIO(csv_bytes)), sink)
    return sink.getvalue()


def joined(first: bytes, second: bytes) -> bytes:
    """Two FOCUS files with the same header as one."""
    return first + b"".join(second.splitlines(keepends=True)[1:])


def reversed_rows(csv_bytes: bytes) -> bytes:
    header, *rows = csv_bytes.decode().splitlines(keepends=True)
    return (header + "".join(reversed(rows))).encode()


async def test_the_sample_as_csv_then_csv_gz_then_parquet_counts_once(api) -> None:  # type: ignore[no-untyped-def]
    _totals, accounts = file_totals(SAMPLE)
    sample_accounts = "|".join(sorted(accounts))
    raw = SAMPLE.read_bytes()
    loads = [
        ("focus.csv", raw),
        ("focus.csv.gz", gzip.compress(raw)),
        ("focus.parquet", as_parquet(raw)),
        ("another-name.csv", reversed_rows(raw)),
    ]
    for index, (name, body) in enumerate(loads):
        record = await upload(api, (name, body))
        assert record["rows"] == 1000 and record["totals"] == {"USD": SAMPLE_TOTAL}
        if index:
            assert record["replaced_rows"] == 1000, name
        assert await total(api, sample_accounts) == SAMPLE_TOTAL, name


async def test_identical_rows_under_another_part_name_replace(api, unique) -> None:  # type: ignore[no-untyped-def]
    account = unique("acct")
    body = focus_file("AWS", account, ["1.00", "2.00"])
    await upload(api, ("part-00001.csv", body))
    again = await upload(api, ("part-00002.csv", reversed_rows(body)))
    assert again["replaced_rows"] == 2
    assert await total(api, account) == "3.000000"


async def test_a_corrected_re_export_replaces_the_earlier_one(api, unique) -> None:  # type: ignore[no-untyped-def]
    account = unique("acct")
    await upload(api, ("sept.csv", focus_file("AWS", account, ["1.00", "2.00"])))
    corrected = focus_file("AWS", account, ["1.00", "2.50", "0.25"])
    record = await upload(api, ("bill-corrected.parquet", as_parquet(corrected)))
    assert record["replaced_rows"] == 2
    assert await total(api, account) == "3.750000"


async def test_a_file_of_other_days_leaves_the_earlier_days(api, unique) -> None:  # type: ignore[no-untyped-def]
    account = unique("acct")
    await upload(api, ("first-half.csv", focus_file("AWS", account, ["1.00", "2.00"], day=2)))
    second = await upload(api, ("second-half.csv", focus_file("AWS", account, ["4.00"], day=20)))
    assert second["replaced_rows"] == 0
    assert await total(api, account) == "7.000000"
    # a re-export of the whole month covers both halves
    month = joined(
        focus_file("AWS", account, ["1.00", "2.00"], day=2), focus_file("AWS", account, ["5.00"], day=20)
    )
    whole = await upload(api, ("september.csv", month))
    assert whole["replaced_rows"] == 3
    assert await total(api, account) == "8.000000"


async def test_parts_in_one_upload_are_one_load(api, unique) -> None:  # type: ignore[no-untyped-def]
    account = unique("acct")
    first = focus_file("AWS", account, ["1.00", "2.00"], day=2)
    second = gzip.compress(focus_file("AWS", account, ["4.00"], day=10))
    record = await upload(api, ("export-a.csv", first), ("export-b.csv.gz", second))
    assert record["rows"] == 3 and record["totals"] == {"USD": "7.000000"}
    assert record["options"]["files"] == ["export-a.csv", "export-b.csv.gz"]
    assert await total(api, account) == "7.000000"
    again = await upload(api, ("export-a.csv", first), ("export-b.csv.gz", second))
    assert again["replaced_rows"] == 3
    assert await total(api, account) == "7.000000"
    # one upload of a single file keeps working (and, as a newer export of the month, replaces both parts)
    named = await api.post(
        "/api/v1/ingestions/upload",
        params={"filename": "x.csv"},
        files=[("file", ("a.csv", first, "text/csv")), ("file", ("b.csv", first, "text/csv"))],
    )
    assert named.status_code == 400 and named.json()["error"]["param"] == "filename"
    whole = joined(first, focus_file("AWS", account, ["3.00"], day=10))
    single = await upload(api, ("whole.csv", whole))
    assert single["replaced_rows"] == 3 and single["options"] == {"upload": True}
    assert await total(api, account) == "6.000000"


async def test_numbered_parts_one_by_one_add_up_and_a_part_again_replaces_itself(api, unique) -> None:  # type: ignore[no-untyped-def]
    account = unique("acct")
    await upload(api, ("part-00001.csv", focus_file("AWS", account, ["1.00", "2.00"], day=2)))
    second = await upload(api, ("part-00002.csv", focus_file("AWS", account, ["4.00"], day=3)))
    assert second["replaced_rows"] == 0
    assert await total(api, account) == "7.000000"
    corrected = gzip.compress(focus_file("AWS", account, ["1.50", "2.00"], day=2))
    again = await upload(api, ("part-00001.csv.gz", corrected))
    assert again["replaced_rows"] == 2
    assert await total(api, account) == "7.500000"


async def test_a_folder_and_a_manifest_are_one_load_each(api, unique) -> None:  # type: ignore[no-untyped-def]
    account = unique("acct")
    folder = api.allowed / "2024-09"
    folder.mkdir()
    (folder / "part-00001.csv").write_bytes(focus_file("AWS", account, ["1.00", "2.00"], day=2))
    (folder / "part-00002.csv.gz").write_bytes(gzip.compress(focus_file("AWS", account, ["4.00"], day=9)))
    started = await api.post("/api/v1/ingestions", json={"source": "focus", "options": {"path": str(folder)}})
    assert started.status_code == 202, started.text
    record = await finished(api, started.json()["id"])
    assert record["status"] == "succeeded", record
    assert record["rows"] == 3 and record["options"]["files"] == ["part-00001.csv", "part-00002.csv.gz"]
    assert await total(api, account) == "7.000000"

    manifest = folder / "export-Manifest.json"
    keys = [f"exports/focus/2024-09/{name}" for name in ("part-00001.csv", "part-00002.csv.gz")]
    manifest.write_text(json.dumps({"reportKeys": keys}))
    started = await api.post(
        "/api/v1/ingestions", json={"source": "focus", "options": {"path": str(manifest)}}
    )
    record = await finished(api, started.json()["id"])
    assert record["status"] == "succeeded" and record["replaced_rows"] == 3
    assert await total(api, account) == "7.000000"

    manifest.write_text(json.dumps({"reportKeys": ["part-00003.csv"]}))
    refused = await api.post(
        "/api/v1/ingestions", json={"source": "focus", "options": {"path": str(manifest)}}
    )
    assert refused.status_code == 400 and "part-00003.csv" in refused.json()["error"]["message"]


async def test_the_sample_from_s3_replaces_its_upload(api) -> None:  # type: ignore[no-untyped-def]
    import boto3
    from moto import mock_aws

    _totals, accounts = file_totals(SAMPLE)
    with mock_aws():
        await upload(api, ("focus.csv", SAMPLE.read_bytes()))
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bills")
        key = "focus/2024-09/bill.csv.gz"
        s3.put_object(Bucket="bills", Key=key, Body=gzip.compress(SAMPLE.read_bytes()))
        body = {"source": "focus", "options": {"bucket": "bills", "key": key}}
        started = await api.post("/api/v1/ingestions", json=body)
        assert started.status_code == 202, started.text
        record = await finished(api, started.json()["id"])
    assert record["status"] == "succeeded" and record["replaced_rows"] == 1000
    assert await total(api, "|".join(sorted(accounts))) == SAMPLE_TOTAL


def test_part_naming_rules() -> None:
    from economist.ingestion.slices import part_of, parts_of_one_export

    assert part_of("name:part-00001.csv") == ("part-#", (1,))
    assert part_of("name:my-export-00002.snappy.parquet") == ("my-export-#", (2,))
    assert part_of("name:part_0_0001.csv.gz") == ("part_#_#", (0, 1))
    assert part_of("name:focus.csv") is None and part_of("name:bill-v2.csv") is None
    assert part_of("files:2024-09") is None and part_of("aws_cost_explorer:*") is None
    assert parts_of_one_export(("name:part-00002.csv",), ("name:part-00001.csv",))
    assert not parts_of_one_export(("name:part-00001.csv.gz",), ("name:part-00001.csv",))  # the same part
    assert not parts_of_one_export(("name:other-00002.csv",), ("name:part-00001.csv",))
    assert parts_of_one_export(("name:part-00003.csv",), ("name:part-00001.csv", "name:part-00002.csv"))
