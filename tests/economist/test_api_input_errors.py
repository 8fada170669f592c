"""Bad API input: every out-of-range parameter is a 4xx in the one error shape (never a 500),
/costs over nothing has no phantom row, and /fx-rates takes a JSON number rate and `filter=provider=X`."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.settings import EconomistSettings
from tests.economist.test_costs_queries import focus_csv


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


def assert_error(response, status: int, param: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["param"] == param, error


@pytest.mark.parametrize(
    ("path", "params", "status", "param"),
    [
        ("/api/v1/anomalies", {"min_cost": "1e30"}, 400, "min_cost"),
        ("/api/v1/anomalies", {"min_cost": "-1"}, 400, "min_cost"),
        ("/api/v1/costs", {"offset": "99999999999999999999"}, 422, "offset"),
        ("/api/v1/costs", {"limit": "99999999999999999999"}, 422, "limit"),
        ("/api/v1/costs/breakdown", {"dimension": "service", "offset": "20000000"}, 422, "offset"),
        ("/api/v1/fx-rates", {"offset": "99999999999999999999"}, 422, "offset"),
        ("/api/v1/fx-rates", {"limit": "99999999999999999999"}, 422, "limit"),
        ("/api/v1/costs", {"from": "0001-01-01", "to": "0001-01-05"}, 400, "from"),
        ("/api/v1/costs", {"from": "9999-12-25", "to": "9999-12-31"}, 400, "from"),
        ("/api/v1/costs/summary", {"from": "0001-01-01", "to": "0001-02-01"}, 400, "from"),
        ("/api/v1/costs/trend", {"to": "0001-01-05", "period_days": "30"}, 400, "to"),
        ("/api/v1/costs/forecast", {"to": "9999-12-31", "horizon": "5"}, 400, "to"),
        ("/api/v1/anomalies", {"from": "0001-01-01", "to": "0001-01-05"}, 400, "from"),
        ("/api/v1/anomalies", {"from": "1899-12-31", "to": "1900-01-05"}, 400, "from"),
    ],
)
async def test_out_of_range_parameters_are_4xx(api, path, params, status, param) -> None:  # type: ignore[no-untyped-def]
    assert_error(await api.get(path, params=params), status, param)


async def test_extreme_dates_inside_the_bounds_work(api) -> None:  # type: ignore[no-untyped-def]
    for path in ("/api/v1/costs/summary", "/api/v1/anomalies", "/api/v1/costs/forecast"):
        for window in (
            {"from": "1900-01-01", "to": "1900-02-01"},
            {"from": "8999-12-01", "to": "9000-01-01"},
        ):
            response = await api.get(path, params=window)
            assert response.status_code == 200, (path, window, response.text)


@pytest.mark.parametrize("rate", ["1e30", "1e-13", "0", 1e30, 1e-13])
async def test_out_of_range_rates_are_400(api, rate) -> None:  # type: ignore[no-untyped-def]
    body = {"rates": [{"date": "2024-09-01", "base": "EUR", "quote": "USD", "rate": rate}]}
    assert_error(await api.post("/api/v1/fx-rates", json=body), 400, "rates")
    csv_body = f"date,base,quote,rate\n2024-09-01,EUR,USD,{rate}\n".encode()
    response = await api.post("/api/v1/fx-rates/csv", content=csv_body)
    assert response.status_code == 400 and "line 2" in response.json()["error"]["message"]


async def test_rate_as_json_number_and_provider_equals_filter(api) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:6].upper()
    base = "X" + "".join(chr(ord("A") + int(c, 16) % 26) for c in tag[:4])
    rates = [
        {"date": "2024-09-01", "base": base, "quote": "USD", "rate": 1.0834},
        {"date": "2024-09-02", "base": base, "quote": "USD", "rate": 2},
    ]
    response = await api.post("/api/v1/fx-rates", json={"rates": rates})
    assert response.status_code == 201, response.text
    listed = (await api.get("/api/v1/fx-rates", params={"base": base})).json()["items"]
    assert sorted(r["rate"] for r in listed) == ["1.0834", "2"]

    provider = f"Eq-{tag}"
    rows = [{"provider": provider, "day": date(2024, 9, 3), "service": "S", "cost": Decimal("3.25")}]
    assert (await api.post("/api/v1/ingestions/upload", content=focus_csv(rows))).status_code == 201
    window = {"from": "2024-09-01", "to": "2024-10-01"}
    for expression in (f"provider={provider}", f"provider:{provider}"):
        response = await api.get("/api/v1/costs", params={**window, "filter": expression})
        assert response.json()["total"] == "3.250000", (expression, response.text)


async def test_no_phantom_row_when_nothing_matches(api) -> None:  # type: ignore[no-untyped-def]
    nothing = f"provider:none-{uuid.uuid4().hex}"
    response = await api.get(
        "/api/v1/costs", params={"from": "2024-01-01", "to": "2024-02-01", "filter": nothing}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["total"], body["total_rows"]) == ([], "0.000000", 0)
    summary = (
        await api.get("/api/v1/costs/summary", params={"from": "2024-01-01", "filter": nothing})
    ).json()
    assert summary["total"] == "0.000000" and summary["by_provider"] == []
