"""Anomalies: the detector on crafted series (weekly seasonality, a level shift, noise) against values
computed here with the documented rule, and GET /api/v1/anomalies on a crafted ledger: one spike found
with its expected value, severity and root cause (the resource that caused it), the weekly pattern and a
spike under the minimum cost not reported."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from statistics import median

import pytest

from economist.anomalies.detector import detect, severity
from economist.app import create_app
from economist.settings import EconomistSettings
from tests.economist.test_costs_queries import focus_csv


def weekly(day_index: int) -> Decimal:
    """Weekday 100, weekend 40 (day 0 is a Monday)."""
    return Decimal(40) if day_index % 7 in (5, 6) else Decimal(100)


def test_seasonal_series_has_no_anomaly_and_a_spike_is_high() -> None:
    series: list[Decimal | None] = [weekly(i) for i in range(63)]
    assert detect(series, 35, Decimal(10)) == []
    series[50] = Decimal(400)  # a Tuesday
    (finding,) = detect(series, 35, Decimal(10))
    assert finding.index == 50 and finding.expected == 100 and finding.deviation == 300
    assert finding.z == Decimal(300) / Decimal(5)  # MAD 0: the scale is 5% of expected
    assert finding.severity == "high"
    # the spike does not disturb the following week's baselines (median of 4 same weekdays)
    assert detect(series, 51, Decimal(10)) == []


def test_noisy_series_matches_the_documented_rule() -> None:
    rng = random.Random(5)
    series: list[Decimal | None] = [weekly(i) + Decimal(rng.randint(-800, 800)) / 100 for i in range(70)]
    series[60] = series[60] + Decimal(45)
    findings = {f.index: f for f in detect(series, 40, Decimal(10))}
    assert 60 in findings

    # recompute day 60 independently
    def baseline(t: int) -> Decimal:
        return median([series[t - 7 * k] for k in range(1, 5)])  # type: ignore[type-var]

    residuals = [series[j] - baseline(j) for j in range(32, 60)]  # type: ignore[operator]
    center = median(residuals)
    mad = median([abs(r - center) for r in residuals])
    expected = baseline(60) + center
    scale = max(Decimal("1.4826") * mad, Decimal("0.05") * expected)
    assert findings[60].expected == expected
    assert findings[60].z == (series[60] - expected) / scale  # type: ignore[operator]
    assert findings[60].severity == severity(findings[60].z)
    assert len(findings) <= 2  # noise of +-8 on 100 rarely crosses 3.5 robust sigmas


def test_level_shift_is_absorbed_and_small_costs_are_ignored() -> None:
    shifted: list[Decimal | None] = [weekly(i) + (Decimal(30) if i >= 20 else 0) for i in range(63)]
    assert detect(shifted, 49, Decimal(10)) == []  # three weeks after the shift it is the new normal
    tiny: list[Decimal | None] = [Decimal(1)] * 63
    tiny[55] = Decimal(8)
    assert detect(tiny, 35, Decimal(10)) == []
    assert len(detect(tiny, 35, Decimal(1))) == 1
    new: list[Decimal | None] = [None] * 50 + [Decimal(500)] * 13
    assert detect(new, 35, Decimal(10)) == []  # not enough history to judge


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


async def test_anomalies_api_finds_the_spike_and_its_root_cause(api) -> None:  # type: ignore[no-untyped-def]
    provider = f"Anom-{uuid.uuid4().hex[:8]}"
    first = date(2026, 1, 5)  # a Monday
    spike_day = first + timedelta(days=58)  # a Tuesday
    rows = []
    for i in range(70):
        day = first + timedelta(days=i)
        base = weekly(i)
        common = {"provider": provider, "day": day, "account": "acct-1"}
        rows.append(
            {
                **common,
                "service": "Compute",
                "region": "us-east-1",
                "resource": "i-base",
                "cost": base * Decimal("0.6"),
            }
        )
        rows.append(
            {
                **common,
                "service": "Compute",
                "region": "eu-west-1",
                "resource": "i-eu",
                "cost": base * Decimal("0.4"),
            }
        )
        rows.append(
            {
                **common,
                "service": "Tiny",
                "region": "us-east-1",
                "resource": "fn",
                "cost": Decimal(8) if day == spike_day else Decimal(1),
            }
        )
        if day == spike_day:
            rows.append(
                {
                    **common,
                    "service": "Compute",
                    "region": "us-east-1",
                    "resource": "i-spike",
                    "cost": Decimal(400),
                }
            )
    assert (await api.post("/api/v1/ingestions/upload", content=focus_csv(rows))).status_code == 201

    params = {
        "from": (first + timedelta(days=42)).isoformat(),
        "to": (first + timedelta(days=70)).isoformat(),
        "filter": f"provider:{provider}",
    }
    response = await api.get("/api/v1/anomalies", params={**params, "min_cost": "10"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["group_by"] == ["service", "account"] and body["series_checked"] == 2
    (anomaly,) = body["anomalies"]
    assert anomaly["date"] == spike_day.isoformat()
    assert (anomaly["service"], anomaly["account"], anomaly["currency"]) == ("Compute", "acct-1", "USD")
    assert (anomaly["actual"], anomaly["expected"], anomaly["deviation"]) == (
        "500.000000",
        "100.000000",
        "400.000000",
    )
    assert anomaly["severity"] == "high" and anomaly["z"] == "80.00"
    assert anomaly["root_cause"] == {
        "dimension": "resource",
        "value": "i-spike",
        "expected": "0.000000",
        "actual": "400.000000",
        "delta": "400.000000",
        "share": "1.0000",
    }
    assert [(c["dimension"], c["value"]) for c in anomaly["contributors"]] == [
        ("resource", "i-spike"),
        ("region", "us-east-1"),
    ]

    by_service = await api.get("/api/v1/anomalies", params={**params, "group_by": "service", "min_cost": "1"})
    found = {(a["service"], a["date"]) for a in by_service.json()["anomalies"]}
    assert found == {("Compute", spike_day.isoformat()), ("Tiny", spike_day.isoformat())}
    compute = next(a for a in by_service.json()["anomalies"] if a["service"] == "Compute")
    assert compute["root_cause"]["value"] == "i-spike" and "account" not in compute

    assert (await api.get("/api/v1/anomalies", params={"group_by": "resource"})).status_code == 400
    assert (await api.get("/api/v1/anomalies", params={"min_cost": "ten"})).status_code == 400
