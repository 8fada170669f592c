"""Forecasts: on a crafted series with trend + weekly seasonality + noise, Holt-Winters beats seasonal-naive
in the holdout backtest and follows the true continuation; GET /api/v1/costs/forecast reports the method,
its backtest next to the baseline's (recomputed here), and an interval around each point."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.forecast.holt_winters import backtest, fit, holdout_days, seasonal_naive
from economist.settings import EconomistSettings
from tests.economist.test_costs_queries import focus_csv

SEASON = (30.0, 25.0, 20.0, 22.0, 28.0, -50.0, -60.0)  # weekdays busy, weekends quiet (day 0 = Monday)


def true_value(t: int) -> float:
    return 200.0 + 1.5 * t + SEASON[t % 7]


def crafted(n: int, seed: int = 3) -> list[float]:
    rng = random.Random(seed)
    return [round(true_value(t) + rng.gauss(0, 4), 2) for t in range(n)]


def test_holt_winters_beats_seasonal_naive_on_trend_plus_season() -> None:
    y = crafted(84)
    result = backtest(y)
    assert result is not None and result.holdout == 14
    # independent baseline: each held-out day repeats the same weekday of the last training week
    train, test = y[:-14], y[-14:]
    naive = [train[len(train) - 7 + (k % 7)] for k in range(14)]
    naive_mae = sum(abs(a - p) for a, p in zip(test, naive, strict=True)) / 14
    assert result.baseline.mae == pytest.approx(naive_mae)
    assert result.model.mae < 0.5 * result.baseline.mae  # the baseline lags the trend by a week (~10.5/day)
    assert result.model.mape is not None and result.model.mape < result.baseline.mape  # type: ignore[operator]

    model = fit(y)
    future = model.forecast(28)
    assert all(abs(f - true_value(84 + h)) < 15 for h, f in enumerate(future))
    widths = model.interval(28)
    assert all(w > 0 for w in widths) and widths == sorted(widths)  # uncertainty grows with the horizon


def test_short_series_fall_back() -> None:
    assert holdout_days(20) == 0 and holdout_days(28) == 7 and holdout_days(90) == 14
    assert backtest([1.0] * 20) is None
    assert seasonal_naive([1, 2, 3, 4, 5, 6, 7, 8], 3) == [2, 3, 4]
    with pytest.raises(ValueError):
        fit([1.0] * 10)


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


async def test_forecast_api(api) -> None:  # type: ignore[no-untyped-def]
    provider = f"Fc-{uuid.uuid4().hex[:8]}"
    first = date(2026, 1, 5)  # a Monday
    y = crafted(84)
    rows = []
    for t, value in enumerate(y):
        total = Decimal(str(value))
        day = first + timedelta(days=t)
        rows.append({"provider": provider, "day": day, "service": "Compute", "cost": total - 50})
        rows.append({"provider": provider, "day": day, "service": "Storage", "cost": Decimal(50)})
    assert (await api.post("/api/v1/ingestions/upload", content=focus_csv(rows))).status_code == 201
    end = first + timedelta(days=84)

    response = await api.get(
        "/api/v1/costs/forecast",
        params={
            "horizon": 14,
            "history_days": 84,
            "to": end.isoformat(),
            "filter": f"provider:{provider}",
            "group_by": "service",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "holt_winters_additive" and body["seasonal_period"] == 7
    assert body["history_from"] == first.isoformat() and body["history_to"] == end.isoformat()
    assert body["currency"] == "USD" and body["horizon"] == 14 and body["interval"] == 0.95
    check = body["backtest"]
    assert check["holdout_days"] == 14 and check["baseline"]["method"] == "seasonal_naive"
    train, test = y[:-14], y[-14:]
    naive_mae = sum(abs(a - train[len(train) - 7 + (k % 7)]) for k, a in enumerate(test)) / 14
    assert Decimal(check["baseline"]["mae"]) == pytest.approx(Decimal(str(naive_mae)), abs=Decimal("0.00001"))
    assert Decimal(check["mae"]) < Decimal(check["baseline"]["mae"])

    assert [r["period"] for r in body["rows"]] == [(end + timedelta(days=h)).isoformat() for h in range(14)]
    for h, row in enumerate(body["rows"]):
        low, cost, high = Decimal(row["lower"]), Decimal(row["cost"]), Decimal(row["upper"])
        assert low < cost < high
        assert abs(float(cost) - true_value(84 + h)) < 15
    assert Decimal(body["total"]) == sum(Decimal(r["cost"]) for r in body["rows"])

    groups = {g["service"]: g for g in body["groups"]}
    assert set(groups) == {"Compute", "Storage"}
    assert all(Decimal(r["cost"]) == 50 for r in groups["Storage"]["rows"])  # a flat series stays flat

    default_end = await api.get(
        "/api/v1/costs/forecast", params={"horizon": 3, "filter": f"provider:{provider}"}
    )
    assert default_end.status_code == 200
    assert default_end.json()["history_to"] == end.isoformat()  # the day after the last cost
    short = await api.get(
        "/api/v1/costs/forecast",
        params={"horizon": 3, "history_days": 10, "to": end.isoformat(), "filter": f"provider:{provider}"},
    )
    assert short.json()["method"] == "seasonal_naive" and short.json()["backtest"] is None


#: daily billed totals of the bundled FOCUS sample, September 2024: a credit makes 2024-09-03 negative
SAMPLE_DAILY = [
    Decimal(v)
    for v in [
        "0.127591",
        "0.039375",
        "-0.087468",
        "0.106129",
        "0.387513",
        "0.069711",
        "0.037519",
        "0.290349",
        "0.060821",
        "0.363420",
        "0.171556",
        "1.926737",
        "2.185373",
        "0.005624",
        "0.005758",
        "0.457716",
        "0.258424",
        "2.287914",
        "1.944424",
        "0.515189",
        "0.911494",
        "1.729193",
        "0.045386",
        "0.202628",
        "0.641938",
        "0.988897",
        "1.876945",
        "0.122588",
        "1.777621",
        "1.069859",
    ]
]


@pytest.mark.parametrize(
    "values",
    [
        SAMPLE_DAILY,  # Holt-Winters: its interval reached -0.56
        [Decimal("-0.08"), *[Decimal(0)] * 20, Decimal("1.9"), *[Decimal(0)] * 6],  # seasonal-naive: -0.9
    ],
    ids=["holt_winters", "seasonal_naive"],
)
def test_a_spend_forecast_never_goes_below_zero_even_after_a_credit(values: list[Decimal]) -> None:
    from economist.forecast.service import forecast_series

    result = forecast_series(values, 14, 0.95)
    assert result["method"] == ("holt_winters_additive" if values is SAMPLE_DAILY else "seasonal_naive")
    assert all(low >= 0 and cost >= low and high >= cost for cost, low, high in result["points"])
    assert any(high > 0 for _, _, high in result["points"])


def test_a_credit_series_is_never_forecast_above_zero() -> None:
    from economist.forecast.service import forecast_series

    credits = [-v for v in SAMPLE_DAILY]
    result = forecast_series(credits, 14, 0.95)
    assert all(high <= 0 and low <= cost <= high for cost, low, high in result["points"])
    assert any(low < 0 for _, low, _ in result["points"])
