"""GET /api/v1/costs/export: the ledger as FOCUS 1.2 rows (CSV and Parquet) whose ingestion into an empty
ledger gives the same totals to the cent, and which replaces (not doubles) its own rows when loaded back."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from economist.app import create_app
from economist.export.focus_format import FOCUS_COLUMNS
from economist.settings import EconomistSettings
from oco.auth import KeyStore
from oco.db import Database
from oco.migrations import upgrade_engine

HEADER = (
    "BilledCost,EffectiveCost,ListCost,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,"
    "ChargePeriodEnd,ChargeCategory,ProviderName,ServiceName,BillingAccountId,SubAccountId,PricingQuantity,"
    "RegionId,Tags\n"
)


def crafted(account: str) -> tuple[bytes, Decimal]:
    """Sixty rows with many decimals, tags and empty values; and their BilledCost summed by hand."""
    lines, expected = [], Decimal(0)
    for i in range(60):
        cost = Decimal("0.000000000001") * (i * 7919) + Decimal(i) / 3
        cost = cost.quantize(Decimal("0.000000000001"))
        expected += cost
        day = 1 + i % 28
        tags = f'"{{""team"": ""t{i % 3}"", ""env"": ""prod""}}"' if i % 4 else ""
        region = "" if i % 5 == 0 else "us-east-1"
        lines.append(
            f"{cost},{cost * 2},,USD,2024-09-01T00:00:00Z,2024-10-01T00:00:00Z,2024-09-{day:02d}T{i % 24:02d}:00:00Z,"
            f"2024-09-{day:02d}T{i % 24:02d}:59:59Z,Usage,AWS,Amazon EC2,{account},sub-{i % 2},{i}.5,{region},{tags}\n"
        )
    return (HEADER + "".join(lines)).encode(), expected


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


@pytest.fixture
async def empty_ledger(settings, serve_app, keystore, unique, tmp_path):  # type: ignore[no-untyped-def]
    """A second economist on a fresh, empty database (embedded SQLite)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    database = Database(url, pool_size=1)
    try:
        await upgrade_engine(database.engine)
        key = await KeyStore(database).create(unique("econ"), ["economist"])
    finally:
        await database.dispose()
    fresh = EconomistSettings(_env_file=None, **{**settings.model_dump(), "oco_database_url": url})
    client = await serve_app(create_app(fresh))
    client.headers["X-API-Key"] = key.plaintext
    return client


async def upload(client, name: str, body: bytes) -> dict:  # type: ignore[no-untyped-def]
    response = await client.post("/api/v1/ingestions/upload", files={"file": (name, body, "text/csv")})
    assert response.status_code == 201, response.text
    return response.json()


async def account_total(client, account: str) -> str:  # type: ignore[no-untyped-def]
    params = {"from": "2024-09-01", "to": "2024-10-01", "filter": f"billing_account:{account}"}
    response = await client.get("/api/v1/costs", params=params)
    assert response.status_code == 200, response.text
    return response.json()["total"]


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
async def test_export_round_trip_gives_the_same_totals(api, empty_ledger, unique, file_format: str) -> None:  # type: ignore[no-untyped-def]
    account = unique("acct")
    body, expected = crafted(account)
    original = await upload(api, "crafted.csv", body)
    assert original["totals"] == {"USD": str(expected.quantize(Decimal("0.000001")))}
    before = await account_total(api, account)

    params = {
        "from": "2024-09-01",
        "to": "2024-10-01",
        "format": file_format,
        "filter": f"billing_account:{account}",
    }
    response = await api.get("/api/v1/costs/export", params=params)
    assert response.status_code == 200, response.text
    assert f"focus-2024-09-01-2024-10-01.{file_format}" in response.headers["content-disposition"]
    exported = response.content
    if file_format == "csv":
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.decode())))
        assert tuple(rows[0]) == FOCUS_COLUMNS and len(rows) == 60
        assert sum(Decimal(r["BilledCost"]) for r in rows) == expected  # exact decimal text
    else:
        table = pq.read_table(io.BytesIO(exported))
        assert table.schema.names == list(FOCUS_COLUMNS) and table.num_rows == 60
        assert table.schema.field("BilledCost").type == pa.decimal128(38, 12)
        assert table.schema.field("ChargePeriodStart").type == pa.timestamp("us", tz="UTC")
        assert sum(table.column("BilledCost").to_pylist()) == expected

    # into an empty ledger: the same totals, to the cent and beyond
    fresh = await upload(empty_ledger, f"export.{file_format}", exported)
    assert fresh["rows"] == 60 and fresh["totals"] == original["totals"]
    assert await account_total(empty_ledger, account) == before
    # back into the same ledger: the same rows, so it replaces them instead of doubling
    again = await upload(api, f"export.{file_format}", exported)
    assert again["replaced_rows"] == 60 and again["totals"] == original["totals"]
    assert await account_total(api, account) == before


async def test_export_refuses_bad_parameters(api) -> None:  # type: ignore[no-untyped-def]
    bad_format = await api.get("/api/v1/costs/export", params={"format": "xlsx"})
    assert bad_format.status_code in (400, 422)
    bad_filter = await api.get("/api/v1/costs/export", params={"filter": "nonsense"})
    assert bad_filter.status_code == 400 and bad_filter.json()["error"]["param"] == "filter"
