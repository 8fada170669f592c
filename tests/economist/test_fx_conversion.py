"""Currency: a query over mixed currencies is refused unless a target currency is given and dated rates
exist; with rates, each day converts at the rate dated on or before it (direct or inverse). Rates load
as JSON or CSV. The foreign currency code is made up per test, so a shared database never interferes."""

from __future__ import annotations

import random
import string
import uuid
from datetime import date
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.fx.service import Converter, MissingRate, parse_rates_csv
from economist.settings import EconomistSettings
from oco.money import quantize_money
from tests.economist.test_costs_queries import focus_csv


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


def made_up_currency() -> str:
    return "X" + "".join(random.choices(string.ascii_uppercase, k=5))


async def test_mixed_currencies_refused_then_converted_with_dated_rates(api) -> None:  # type: ignore[no-untyped-def]
    provider, foreign = f"Fx-{uuid.uuid4().hex[:8]}", made_up_currency()
    charges = [  # (day, currency, cost)
        (date(2026, 3, 1), foreign, Decimal("10.5")),
        (date(2026, 3, 2), foreign, Decimal("20")),
        (date(2026, 3, 3), "USD", Decimal("7.25")),
        (date(2026, 3, 5), foreign, Decimal("3.333333333")),
    ]
    rows = [
        {"provider": provider, "day": d, "service": "Compute", "currency": c, "cost": v}
        for d, c, v in charges
    ]
    assert (await api.post("/api/v1/ingestions/upload", content=focus_csv(rows))).status_code == 201
    params = {"from": "2026-03-01", "to": "2026-03-06", "filter": f"provider:{provider}"}

    mixed = await api.get("/api/v1/costs", params=params)
    assert mixed.status_code == 409 and mixed.json()["error"]["code"] == "mixed_currencies"
    assert foreign in mixed.json()["error"]["message"] and "USD" in mixed.json()["error"]["message"]
    no_rates = await api.get("/api/v1/costs", params={**params, "currency": "USD"})
    assert no_rates.status_code == 409 and no_rates.json()["error"]["code"] == "missing_fx_rate"
    assert (
        await api.get(
            "/api/v1/costs", params={**params, "filter": f"provider:{provider}", "currency": foreign}
        )
    ).status_code == 409

    loaded = await api.post(
        "/api/v1/fx-rates",
        json={
            "rates": [
                {"date": "2026-03-01", "base": foreign, "quote": "USD", "rate": "2"},
                {"date": "2026-03-04", "base": foreign.lower(), "quote": "usd", "rate": "3.5"},
            ],
            "source": "test",
        },
    )
    assert loaded.status_code == 201 and loaded.json() == {"loaded": 2}

    in_usd = await api.get("/api/v1/costs", params={**params, "currency": "USD", "granularity": "day"})
    assert in_usd.status_code == 200, in_usd.text
    expected_usd = {
        "2026-03-01": Decimal("10.5") * 2,
        "2026-03-02": Decimal("20") * 2,  # the 1 March rate still applies
        "2026-03-03": Decimal("7.25"),
        "2026-03-05": Decimal("3.333333333") * Decimal("3.5"),
    }
    body = in_usd.json()
    assert body["currency"] == "USD"
    assert {r["period"]: r["cost"] for r in body["rows"]} == {
        d: str(quantize_money(v)) for d, v in expected_usd.items()
    }
    assert body["total"] == str(quantize_money(sum(expected_usd.values())))

    # the other way: USD into the made-up currency uses the inverse of the dated rate
    in_foreign = await api.get("/api/v1/costs", params={**params, "currency": foreign, "group_by": "service"})
    assert in_foreign.status_code == 200
    expected = Decimal("10.5") + Decimal("20") + Decimal("7.25") / 2 + Decimal("3.333333333")
    assert in_foreign.json()["rows"] == [{"service": "Compute", "cost": str(quantize_money(expected))}]

    # a single-currency selection needs no rate and reports its own currency
    only_foreign = await api.get("/api/v1/costs", params={**params, "from": "2026-03-05"})
    assert only_foreign.json()["currency"] == foreign
    assert only_foreign.json()["total"] == str(quantize_money(Decimal("3.333333333")))

    listed = await api.get("/api/v1/fx-rates", params={"base": foreign})
    assert [(r["date"], r["rate"], r["source"]) for r in listed.json()["items"]] == [
        ("2026-03-01", "2", "test"),
        ("2026-03-04", "3.5", "test"),
    ]


async def test_rates_from_csv_replace_and_validate(api) -> None:  # type: ignore[no-untyped-def]
    foreign = made_up_currency()
    text = f"\ufeffDate,Base,Quote,Rate\n2026-01-01,{foreign},EUR,1.25\n2026-01-02,{foreign},EUR,1.5\n"
    response = await api.post("/api/v1/fx-rates/csv", content=text.encode(), params={"source": "ecb"})
    assert response.status_code == 201 and response.json() == {"loaded": 2}
    again = await api.post(
        "/api/v1/fx-rates/csv", content=f"date,base,quote,rate\n2026-01-02,{foreign},EUR,1.75\n".encode()
    )
    assert again.status_code == 201
    listed = (await api.get("/api/v1/fx-rates", params={"base": foreign, "quote": "EUR"})).json()
    assert [r["rate"] for r in listed["items"]] == ["1.25", "1.75"] and listed["total"] == 2

    bad = await api.post(
        "/api/v1/fx-rates/csv",
        content=b"date,base,quote,rate\n2026-01-01,EUR,USD,1.1\n2026-01-02,EUR,USD,-1\n",
    )
    assert bad.status_code == 400 and "line 3" in bad.json()["error"]["message"]
    missing = await api.post("/api/v1/fx-rates/csv", content=b"day,base,quote,rate\n")
    assert missing.status_code == 400 and "date" in missing.json()["error"]["message"]
    same = await api.post(
        "/api/v1/fx-rates",
        json={"rates": [{"date": "2026-01-01", "base": "EUR", "quote": "EUR", "rate": "1"}]},
    )
    assert same.status_code == 400


def test_converter_picks_the_latest_rate_on_or_before_the_day() -> None:
    rates = [
        {"base": "EUR", "quote": "USD", "rate_date": date(2026, 1, 10), "rate": Decimal("1.1")},
        {"base": "USD", "quote": "EUR", "rate_date": date(2026, 1, 20), "rate": Decimal("0.8")},
    ]
    converter = Converter("USD", rates)
    assert converter.rate("USD", date(2020, 1, 1)) == 1
    assert converter.rate("EUR", date(2026, 1, 15)) == Decimal("1.1")
    assert converter.rate("EUR", date(2026, 2, 1)) == Decimal(1) / Decimal("0.8")
    with pytest.raises(MissingRate, match="on or before 2026-01-09"):
        converter.rate("EUR", date(2026, 1, 9))
    with pytest.raises(ValueError, match="line 2"):
        parse_rates_csv("date,base,quote,rate\nnot-a-date,EUR,USD,1\n")
