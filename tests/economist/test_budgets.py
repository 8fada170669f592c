"""Budgets over crafted ledgers (a provider of their own, so a shared database never mixes in): CRUD and
validation errors that name the field, spent and forecast at period end computed here by hand, thresholds
that alert once per period (and again in the next one), forecast-based thresholds, currencies."""

from __future__ import annotations

import random
import string
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from economist.app import create_app
from economist.budgets.service import ThresholdCrossed, evaluate_thresholds
from economist.settings import EconomistSettings
from oco.timeutil import utcnow
from tests.economist.test_costs_queries import focus_csv


@pytest.fixture
async def app(settings):  # type: ignore[no-untyped-def]
    # the webhook receivers of these tests are on loopback: allowed explicitly, as an operator would
    values = {**settings.model_dump(), "oco_notify_allow_hosts": "127.0.0.1"}
    return create_app(EconomistSettings(_env_file=None, **values))


@pytest.fixture
async def api(app, serve_app, keystore, unique):  # type: ignore[no-untyped-def]
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("budgets"), ["economist"])).plaintext
    return client


def provider() -> str:
    return f"Bud-{uuid.uuid4().hex[:8]}"


def daily(prov: str, first: date, days: int, cost: str, tags: dict[str, str], **extra: Any) -> list[dict]:
    return [
        {"provider": prov, "day": first + timedelta(days=i), "service": "Compute", "cost": Decimal(cost),
         "tags": tags, **extra}
        for i in range(days)
    ]  # fmt: skip


async def upload(api, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
    """One load of new costs: its own replace_key, so it adds to earlier loads of the same days (a file
    load without one would be taken for a re-export of those days and replace them)."""
    name = f"budget-{uuid.uuid4().hex[:8]}.csv"
    params = {"filename": name, "replace_key": name}
    response = await api.post("/api/v1/ingestions/upload", content=focus_csv(rows), params=params)
    assert response.status_code == 201, response.text


def budget_body(prov: str, **changes: Any) -> dict[str, Any]:
    body = {
        "name": f"team-search-{uuid.uuid4().hex[:8]}",
        "scope": {"provider": prov, "account": None, "service": None, "tag": {"team": "search"}},
        "period": "monthly",
        "amount": "100.00",
        "currency": "USD",
        "thresholds": [{"percent": 80, "on": "actual"}, {"percent": 100, "on": "forecast"}],
        "webhook_url": None,
    }
    return {**body, **changes}


async def create(api, body: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = await api.post("/api/v1/budgets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_crud_and_validation_errors_name_the_field(api) -> None:  # type: ignore[no-untyped-def]
    prov = provider()
    body = budget_body(prov, webhook_url="https://hooks.example.com/budget", currency="usd")
    created = await create(api, body)
    assert created["name"] == body["name"] and created["amount"] == "100.000000"
    assert created["currency"] == "USD" and created["metric"] == "billed"
    assert created["scope"] == {"provider": prov, "account": None, "service": None, "tag": {"team": "search"}}
    assert created["thresholds"] == body["thresholds"] and created["webhook_url"] == body["webhook_url"]

    again = await api.post("/api/v1/budgets", json=body)
    assert again.status_code == 409 and again.json()["error"]["param"] == "name"

    refused = {
        "amount": [{"amount": "-5"}, {"amount": "0"}, {"amount": 1.5}, {"amount": "ten"}, {"amount": "1.0000001"}],
        "currency": [{"currency": "US"}, {"currency": "USDX"}, {"currency": "U$D"}],
        "period": [{"period": "weekly"}],
        "thresholds.0.percent": [{"thresholds": [{"percent": 0}]}, {"thresholds": [{"percent": 1001}]}],
        "thresholds.0.on": [{"thresholds": [{"percent": 50, "on": "maybe"}]}],
        "thresholds": [{"thresholds": [{"percent": 50}, {"percent": 50, "on": "actual"}]}],
        "webhook_url": [{"webhook_url": "ftp://example.com/x"}, {"webhook_url": "not a url"}],
        "scope.region": [{"scope": {"region": "us-east-1"}}],
        "name": [{"name": ""}, {"name": "   "}],
    }  # fmt: skip
    for field, bodies in refused.items():
        for change in bodies:
            response = await api.post("/api/v1/budgets", json=budget_body(prov, **change))
            assert response.status_code == 422, (change, response.text)
            assert response.json()["error"]["param"] == field, (change, response.json())

    one = await api.get(f"/api/v1/budgets/{created['id']}")
    assert one.status_code == 200 and one.json() == created
    listed = await api.get("/api/v1/budgets", params={"limit": 1000})
    assert listed.status_code == 200 and created["id"] in [b["id"] for b in listed.json()["items"]]
    assert listed.json()["total"] >= 1 and listed.json()["limit"] == 1000
    assert (await api.get("/api/v1/budgets", params={"limit": 1001})).json()["error"]["param"] == "limit"

    patched = await api.patch(
        f"/api/v1/budgets/{created['id']}",
        json={"amount": "250.5", "webhook_url": None, "thresholds": [{"percent": 90, "on": "forecast"}]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["amount"] == "250.500000" and patched.json()["webhook_url"] is None
    assert patched.json()["thresholds"] == [{"percent": 90, "on": "forecast"}]
    assert patched.json()["name"] == body["name"] and patched.json()["period"] == "monthly"
    for change, field in (
        ({"amount": "-1"}, "amount"),
        ({"name": " "}, "name"),
        ({"period": "daily"}, "period"),
    ):
        bad = await api.patch(f"/api/v1/budgets/{created['id']}", json=change)
        assert bad.status_code == 422 and bad.json()["error"]["param"] == field, bad.text
    other = await create(api, budget_body(prov))
    taken = await api.patch(f"/api/v1/budgets/{other['id']}", json={"name": body["name"]})
    assert taken.status_code == 409 and taken.json()["error"]["param"] == "name"

    assert (await api.delete(f"/api/v1/budgets/{created['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/budgets/{created['id']}")).status_code == 404
    assert (await api.get(f"/api/v1/budgets/{created['id']}/status")).status_code == 404
    assert (await api.patch(f"/api/v1/budgets/{created['id']}", json={"amount": "1"})).status_code == 404
    assert (await api.delete(f"/api/v1/budgets/{created['id']}")).status_code == 404


async def test_status_spent_forecast_and_forecast_threshold_alerting_once(api) -> None:  # type: ignore[no-untyped-def]
    prov = provider()
    # March 1-10: 5.00 a day for team search (the scope); other teams and untagged rows are not counted
    await upload(
        api,
        daily(prov, date(2026, 3, 1), 10, "5.00", {"team": "search"})
        + daily(prov, date(2026, 3, 1), 10, "7.00", {"team": "ads"})
        + daily(prov, date(2026, 3, 1), 10, "1.00", {})
        + daily(prov, date(2025, 11, 20), 3, "50.00", {"Team": "Search"}, service="Storage"),  # long ago
    )
    budget = await create(api, budget_body(prov))
    response = await api.get(f"/api/v1/budgets/{budget['id']}/status", params={"at": "2026-03-10"})
    assert response.status_code == 200, response.text
    status = response.json()
    assert (status["period_start"], status["period_end"], status["as_of"]) == (
        "2026-03-01", "2026-04-01", "2026-03-10",
    )  # fmt: skip
    assert status["spent"] == "50.000000"  # 10 days x 5.00
    assert status["remaining"] == "50.000000" and status["utilization"] == "0.5000"
    # the forecast learns from the 90 days before March 11: only March 1-10 hold costs, too short for
    # Holt-Winters, so seasonal naive repeats the last week (5.00 a day): 21 days left x 5.00 = 105.00 more
    assert status["forecast_method"] == "seasonal_naive"
    assert status["forecast"] == "155.000000" and status["forecast_utilization"] == "1.5500"
    states = {(t["percent"], t["on"]): t for t in status["thresholds"]}
    assert (
        states[(80, "actual")]["crossed"] is False
        and states[(80, "actual")]["threshold_amount"] == "80.000000"
    )
    assert states[(100, "forecast")]["crossed"] is True and states[(100, "forecast")]["alerted_at"]
    assert [(t["percent"], t["on"]) for t in status["newly_crossed"]] == [(100, "forecast")]

    again = (await api.get(f"/api/v1/budgets/{budget['id']}/status", params={"at": "2026-03-10"})).json()
    assert again["newly_crossed"] == []  # alerted once per period
    assert again["thresholds"] == status["thresholds"]

    # the period to date only counts days up to `at`
    early = (await api.get(f"/api/v1/budgets/{budget['id']}/status", params={"at": "2026-03-03"})).json()
    assert early["spent"] == "15.000000"


async def test_forecast_of_a_period_without_history_and_on_its_last_day(api) -> None:  # type: ignore[no-untyped-def]
    prov = provider()
    budget = await create(api, budget_body(prov))
    empty = (await api.get(f"/api/v1/budgets/{budget['id']}/status", params={"at": "2026-05-10"})).json()
    assert (empty["spent"], empty["forecast"], empty["newly_crossed"]) == ("0.000000", "0.000000", [])
    # three days of history only: the forecast is their mean per remaining day
    await upload(api, daily(prov, date(2026, 6, 1), 3, "2.00", {"team": "search"}))
    june = (await api.get(f"/api/v1/budgets/{budget['id']}/status", params={"at": "2026-06-03"})).json()
    assert june["spent"] == "6.000000" and june["forecast_method"] == "mean"
    assert june["forecast"] == "60.000000"  # 6.00 + 27 days x 2.00
    # a credit on the last day: the forecast is what was spent, never more, never below
    await upload(api, daily(prov, date(2026, 6, 30), 1, "-1.00", {"team": "search"}))
    last = (await api.get(f"/api/v1/budgets/{budget['id']}/status", params={"at": "2026-06-30"})).json()
    assert last["spent"] == "5.000000" and last["forecast"] == "5.000000"


async def test_evaluate_thresholds_once_per_period_and_again_in_the_next(app, api) -> None:  # type: ignore[no-untyped-def]
    prov = provider()
    await upload(
        api,
        daily(prov, date(2026, 3, 1), 10, "5.00", {"team": "search"})
        + daily(prov, date(2026, 4, 1), 5, "5.00", {"team": "search"}),
    )
    body = budget_body(
        prov,
        amount="20",
        thresholds=[{"percent": 50, "on": "actual"}, {"percent": 1000, "on": "actual"}],
        webhook_url="http://127.0.0.1:9/hook",
    )
    budget = await create(api, body)
    service = app.state.budgets
    heard: list[ThresholdCrossed] = []

    async def listener(crossed: list[ThresholdCrossed]) -> None:
        heard.extend(crossed)

    service.listeners.append(listener)
    march = datetime(2026, 3, 10, 12, tzinfo=UTC)
    first = await evaluate_thresholds(service, [budget["id"]], now=march)
    assert [(c.budget_id, c.percent, c.on) for c in first] == [(budget["id"], 50, "actual")]
    crossed = first[0]
    assert (crossed.spent, crossed.amount, crossed.currency) == (Decimal("50.00"), Decimal("20"), "USD")
    assert (crossed.period_start, crossed.period_end) == (date(2026, 3, 1), date(2026, 4, 1))
    assert crossed.webhook_url == "http://127.0.0.1:9/hook" and crossed.budget_name == body["name"]
    assert crossed.payload()["threshold_amount"] == "10.000000" and crossed.payload()["spent"] == "50.000000"
    assert heard == first

    assert await service.evaluate_thresholds([budget["id"]], now=march) == []  # once per period
    assert await service.evaluate_thresholds([budget["id"]], now=march + timedelta(days=5)) == []
    april = await service.evaluate_thresholds([budget["id"]], now=datetime(2026, 4, 5, tzinfo=UTC))
    assert [(c.percent, c.period_start, c.spent) for c in april] == [(50, date(2026, 4, 1), Decimal("25.00"))]
    assert heard == first + april

    # a quarterly budget: April-June is one period, so April's crossing holds for May too
    await api.patch(f"/api/v1/budgets/{budget['id']}", json={"period": "quarterly"})
    q2 = await service.evaluate_thresholds([budget["id"]], now=datetime(2026, 5, 15, tzinfo=UTC))
    assert [(c.period_start, c.period_end) for c in q2] == [(date(2026, 4, 1), date(2026, 7, 1))]
    assert await service.evaluate_thresholds([budget["id"]], now=datetime(2026, 6, 1, tzinfo=UTC)) == []


async def test_thresholds_are_evaluated_after_every_ingestion(app, api) -> None:  # type: ignore[no-untyped-def]
    prov = provider()
    budget = await create(api, budget_body(prov, amount="10", thresholds=[{"percent": 100, "on": "actual"}]))
    heard: list[ThresholdCrossed] = []

    async def listener(crossed: list[ThresholdCrossed]) -> None:
        heard.extend(c for c in crossed if c.budget_id == budget["id"])

    app.state.budgets.listeners.append(listener)
    today = utcnow().date()
    await upload(api, daily(prov, today, 1, "4.00", {"team": "search"}))
    assert heard == []  # 4 of 10
    await upload(api, daily(prov, today, 1, "6.50", {"team": "search"}))
    assert [(c.percent, c.spent) for c in heard] == [(100, Decimal("10.50"))]
    await upload(api, daily(prov, today, 1, "1.00", {"team": "search"}))
    assert len(heard) == 1  # already alerted this period
    status = (await api.get(f"/api/v1/budgets/{budget['id']}/status")).json()
    assert status["as_of"] == today.isoformat() and status["spent"] == "11.500000"
    assert status["thresholds"][0]["alerted_at"] and status["newly_crossed"] == []
    exposed = (await api.get("/metrics")).text
    name = budget["name"]
    assert f'oco_economist_budget_utilization_ratio{{budget="{name}"}} 1.15' in exposed
    assert f'oco_economist_budget_thresholds_crossed_total{{budget="{name}",on="actual"}} 1.0' in exposed
    assert (await api.delete(f"/api/v1/budgets/{budget['id']}")).status_code == 204
    assert (
        f'oco_economist_budget_utilization_ratio{{budget="{name}"}}' not in (await api.get("/metrics")).text
    )


async def test_other_currencies_convert_with_rates_or_refuse(api) -> None:  # type: ignore[no-untyped-def]
    prov = provider()
    code = "Q" + "".join(random.choices(string.ascii_uppercase, k=2))
    await upload(
        api,
        daily(prov, date(2026, 7, 1), 2, "3.00", {"team": "search"}, currency=code)
        + daily(prov, date(2026, 7, 1), 2, "1.00", {"team": "search"}),
    )
    budget = await create(api, budget_body(prov, currency=code))
    refused = await api.get(f"/api/v1/budgets/{budget['id']}/status", params={"at": "2026-07-31"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "missing_fx_rate"
    rates = {"rates": [{"date": "2026-06-01", "base": "USD", "quote": code, "rate": "2"}]}
    assert (await api.post("/api/v1/fx-rates", json=rates)).status_code == 201
    status = await api.get(f"/api/v1/budgets/{budget['id']}/status", params={"at": "2026-07-31"})
    assert status.status_code == 200, status.text
    assert status.json()["spent"] == "10.000000" and status.json()["currency"] == code  # 2 x 3 + 2 x 1 x 2
