"""Anomalies: a spike from a flat zero baseline is reported (the scale has an absolute floor),
and each series ends at its own provider's last billed day (an Azure export lagging AWS's by two days is
not two days of zero cost)."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from economist.anomalies.detector import detect
from economist.app import create_app
from economist.settings import EconomistSettings
from tests.economist.test_costs_queries import focus_csv


def test_spike_from_a_zero_baseline_is_high() -> None:
    series: list[Decimal | None] = [Decimal(0)] * 65 + [Decimal(5000)]
    (finding,) = detect(series, 35, Decimal(10))
    assert (finding.index, finding.expected, finding.actual, finding.severity) == (65, 0, 5000, "high")
    assert finding.z == Decimal(5000) / Decimal(1)  # scale floor: 10% of min_cost
    assert detect([Decimal(0)] * 65 + [Decimal(9)], 35, Decimal(10)) == []  # under min_cost
    (zero_min,) = detect([Decimal(0)] * 65 + [Decimal(1)], 35, Decimal(0))  # floor of one cent
    assert zero_min.z == 100


@pytest.fixture
async def api(settings, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(create_app(EconomistSettings(_env_file=None, **settings.model_dump())))
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    return client


async def test_zero_baseline_spike_and_provider_lag_through_the_api(api) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    aws, azure = f"AWS-{tag}", f"Azure-{tag}"
    rng = random.Random(5)
    first = date(2024, 7, 1)
    rows = []
    for i in range(70):
        day = first + timedelta(days=i)
        cost = Decimal(str(round(200 + rng.gauss(0, 3), 2)))
        rows.append({"provider": aws, "day": day, "service": "EC2", "cost": cost})
        rows.append(
            {"provider": aws, "day": day, "service": "Lambda", "cost": Decimal(5000 if i == 65 else 0)}
        )
        if i < 68:  # Azure's export lags two days behind AWS's
            cost = Decimal(str(round(300 + rng.gauss(0, 3), 2)))
            rows.append({"provider": azure, "day": day, "service": "VM", "account": "az", "cost": cost})
    assert (await api.post("/api/v1/ingestions/upload", content=focus_csv(rows))).status_code == 201

    response = await api.get(
        "/api/v1/anomalies",
        params={"from": "2024-08-25", "to": "2024-09-10", "filter": f"provider:{aws}|{azure}"},
    )
    assert response.status_code == 200, response.text
    found = [(a["date"], a["service"], a["severity"]) for a in response.json()["anomalies"]]
    assert found == [(str(first + timedelta(days=65)), "Lambda", "high")]
