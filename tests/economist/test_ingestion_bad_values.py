"""Bad values in billing files: amounts the ledger's NUMERIC(30, 12) cannot hold and NUL bytes in text or tags stop
the ingestion with file, line and column (on SQLite and PostgreSQL alike), and BillingCurrency is upper-cased."""

from __future__ import annotations

import io
import uuid
from datetime import date
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.settings import EconomistSettings
from economist.sources import SourceRowError, open_focus_source
from economist.sources.values import to_currency, to_decimal, to_str, to_tags
from tests.economist.test_costs_queries import focus_csv


def test_values_out_of_range_nul_and_currency() -> None:
    assert to_decimal("999999999999999999.999") == Decimal("999999999999999999.999")
    for bad in ("1e18", "-1e18", "1000000000000000000", 1e30, Decimal("1e40"), 10**18):
        with pytest.raises(ValueError, match="out of range"):
            to_decimal(bad)
    with pytest.raises(ValueError, match="NUL"):
        to_str("a\x00b")
    with pytest.raises(ValueError, match="NUL"):
        to_tags('{"env": "pro\\u0000d"}')
    with pytest.raises(ValueError, match="NUL"):
        to_tags({"e\x00nv": "prod"})
    assert to_currency(" usd ") == "USD" and to_currency("NULL") is None


def rows(provider: str, **changes: object) -> list[dict]:
    first = {"provider": provider, "day": date(2026, 2, 2), "service": "S", "cost": Decimal(1)}
    return [first, {**first, **changes}]


@pytest.mark.parametrize(
    ("changes", "column"),
    [
        ({"cost": Decimal("1e18")}, "BilledCost"),
        ({"cost": Decimal("-2E+20")}, "BilledCost"),
        ({"service": "Comp\x00ute"}, "ServiceName"),
        ({"tags": {"env": "pr\x00od"}}, "Tags"),
    ],
)
def test_parser_reports_file_line_and_column(changes, column) -> None:  # type: ignore[no-untyped-def]
    source = open_focus_source(io.BytesIO(focus_csv(rows("P", **changes))), filename="bad.csv")
    with pytest.raises(SourceRowError) as caught:
        [row for batch in source.batches() for row in batch.rows]
    assert (caught.value.file, caught.value.line, caught.value.column) == ("bad.csv", 3, column)


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


@pytest.mark.parametrize(
    ("changes", "column"),
    [({"cost": Decimal("1e18")}, "BilledCost"), ({"service": "Comp\x00ute"}, "ServiceName")],
)
async def test_upload_of_a_bad_value_is_400_with_line_and_column(api, changes, column) -> None:  # type: ignore[no-untyped-def]
    provider = f"Bad-{uuid.uuid4().hex[:8]}"
    response = await api.post(
        "/api/v1/ingestions/upload",
        content=focus_csv(rows(provider, **changes)),
        params={"filename": "bad.csv"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0] | {"message": ""} == {
        "file": "bad.csv",
        "line": 3,
        "column": column,
        "message": "",
    }
    costs = await api.get(
        "/api/v1/costs", params={"from": "2026-02-01", "to": "2026-03-01", "filter": f"provider:{provider}"}
    )
    assert costs.json()["rows"] == []


async def test_lower_case_currency_is_one_currency(api) -> None:  # type: ignore[no-untyped-def]
    provider = f"Cur-{uuid.uuid4().hex[:8]}"
    data = rows(provider, currency="usd")
    assert (await api.post("/api/v1/ingestions/upload", content=focus_csv(data))).status_code == 201
    response = await api.get(
        "/api/v1/costs", params={"from": "2026-02-01", "to": "2026-03-01", "filter": f"provider:{provider}"}
    )
    assert response.status_code == 200, response.text  # not 409 mixed currencies
    assert (response.json()["currency"], response.json()["total"]) == ("USD", "2.000000")
