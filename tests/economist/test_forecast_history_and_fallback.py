"""Forecast history: series start at their first day with a cost (no leading zeros), the history end
is the last cost whatever its age, and a Holt-Winters fit that loses its backtest falls back to
seasonal-naive and says so."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.forecast.holt_winters import seasonal_naive
from economist.forecast.service import forecast_series
from economist.settings import EconomistSettings
from tests.economist.test_costs_queries import focus_csv

PATTERN = (100, 110, 120, 115, 105, 40, 35)


def noisy(days: int, seed: int) -> list[Decimal]:
    rng = random.Random(seed)
    return [Decimal(str(round(PATTERN[i % 7] + 0.5 * i + rng.gauss(0, 3), 2))) for i in range(days)]


def test_losing_holt_winters_falls_back_to_seasonal_naive() -> None:
    history = [Decimal(0)] * 60 + noisy(30, seed=1)  # a series padded with zeros: Holt-Winters fits badly
    result = forecast_series(history, 14, 0.95)
    checked = result["backtest"]
    assert checked is not None and checked.model.mae > checked.baseline.mae
    assert result["method"] == "seasonal_naive"
    assert "lost the backtest" in result["method_reason"]
    expected = seasonal_naive([float(v) for v in history], 14)
    assert [float(p[0]) for p in result["points"]] == pytest.approx(expected, abs=1e-6)
    assert all(low <= cost <= high for cost, low, high in result["points"])


def test_winning_holt_winters_is_kept() -> None:
    result = forecast_series(noisy(60, seed=1), 14, 0.95)
    assert result["method"] == "holt_winters_additive" and result["method_reason"] is None
    assert result["backtest"].model.mae <= result["backtest"].baseline.mae


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


async def test_short_old_history_is_forecast_from_its_first_and_last_cost(api) -> None:  # type: ignore[no-untyped-def]
    provider = f"Fc-{uuid.uuid4().hex[:8]}"
    first = date(2024, 8, 5)  # more than a year ago, and only 42 days (< the 90 history days)
    values = noisy(42, seed=2)
    rows = [
        {"provider": provider, "day": first + timedelta(days=i), "service": "Compute", "cost": v}
        for i, v in enumerate(values)
    ]
    assert (await api.post("/api/v1/ingestions/upload", content=focus_csv(rows))).status_code == 201

    response = await api.get(
        "/api/v1/costs/forecast", params={"horizon": 14, "filter": f"provider:{provider}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["history_to"] == str(first + timedelta(days=42))
    assert body["history_from"] == str(first)  # no leading zero days
    assert body["method"] == "holt_winters_additive", body
    backtest = body["backtest"]
    assert Decimal(backtest["mae"]) <= Decimal(backtest["baseline"]["mae"])
    truth = [float(PATTERN[i % 7] + 0.5 * i) for i in range(42, 56)]
    forecast = [float(r["cost"]) for r in body["rows"]]
    mae = sum(abs(a - b) for a, b in zip(forecast, truth, strict=True)) / 14
    naive = seasonal_naive([float(v) for v in values], 14)
    assert mae < sum(abs(a - b) for a, b in zip(naive, truth, strict=True)) / 14
