"""Economist's ingestion and anomaly metrics: finished ingestions counted by source and status, and the
anomalies the check after an ingestion found (published whether or not the anomaly webhook is set)."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from oco.timeutil import utcnow
from tests.economist.governance_helpers import economist_api, focus_csv, upload


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_ingestions_are_counted_by_status(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    _, api = await economist_api(settings, serve_app, keystore, unique)
    name = "oco_economist_ingestions_total"
    succeeded, failed = (
        sample(name, source="focus", status="succeeded"),
        sample(name, source="focus", status="failed"),
    )
    await upload(api, [{"provider": unique("P"), "cost": "3"}], unique("ok") + ".csv")
    bad = focus_csv([{"provider": unique("P"), "cost": "not-a-number"}])
    response = await api.post(
        "/api/v1/ingestions/upload", content=bad, params={"filename": unique("bad") + ".csv"}
    )
    assert response.status_code == 400, response.text
    assert sample(name, source="focus", status="succeeded") == succeeded + 1
    assert sample(name, source="focus", status="failed") == failed + 1


async def test_the_check_after_an_ingestion_publishes_the_anomalies_it_found(
    settings, serve_app, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    _, api = await economist_api(settings, serve_app, keystore, unique)  # no anomaly webhook configured
    provider, account = unique("P"), unique("acct")
    today = utcnow().date()
    noise = ["100", "101", "99", "100", "102", "98", "100"]
    rows = [
        {"provider": provider, "account": account, "day": today - timedelta(days=d), "cost": noise[d % 7]}
        for d in range(1, 70)
    ]
    await upload(api, rows, unique("calm") + ".csv")
    for severity in ("low", "medium", "high"):  # every severity is published, 0 included
        assert REGISTRY.get_sample_value("oco_economist_anomalies", {"severity": severity}) is not None
    calm_high = sample("oco_economist_anomalies", severity="high")
    rows.append({"provider": provider, "account": account, "day": today, "cost": "1000"})
    await upload(api, rows, unique("spike") + ".csv")
    assert sample("oco_economist_anomalies", severity="high") == calm_high + 1
