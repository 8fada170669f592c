"""The `cerebra` source against a loopback fake of cerebra's FOCUS export: LLM spend lands in the ledger with
its tags, on demand (POST /api/v1/ingestions) and on a schedule; an hour pulled twice counts once and a
re-pull of a window replaces it; the API key appears in no record, error or log."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from economist.app import create_app
from economist.ingestion.cerebra_schedule import LOCK_NAME
from economist.settings import EconomistSettings
from oco.money import quantize_money
from tests.economist.fakes.cerebra_focus import KEYS, CerebraFocusFake, hourly_cost
from tests.economist.fakes.http import LoopbackServer

API_KEY = "oco_cerebra-secret-key-for-economist-0123456789"
DAY = date(2024, 9, 10)


def expected_total(start: date, end: date) -> str:
    """The fake's spend over the days [start, end), summed by hand."""
    total = Decimal(0)
    moment = datetime(start.year, start.month, start.day, tzinfo=UTC)
    while moment.date() < end:
        total += sum(hourly_cost(moment, i) for i in range(len(KEYS)))
        moment += timedelta(hours=1)
    return str(quantize_money(total))


@pytest.fixture
def cerebra(unique):  # type: ignore[no-untyped-def]
    fake = CerebraFocusFake(API_KEY, unique("cerebra-acct"))
    with LoopbackServer(fake) as server:
        server.fake = fake  # type: ignore[attr-defined]
        yield server


async def economist_for(settings, serve_app, keystore, unique, **extra):  # type: ignore[no-untyped-def]
    extra.setdefault("oco_outbound_allow_hosts", "127.0.0.1")  # the fake cerebra is on loopback: allowed
    app_settings = EconomistSettings(_env_file=None, **{**settings.model_dump(), **extra})
    app = create_app(app_settings)
    client = await serve_app(app)
    client.headers["X-API-Key"] = (await keystore.create(unique("econ"), ["economist"])).plaintext
    client.app = app  # type: ignore[attr-defined]
    return client


async def finished(api, ingestion_id: int) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(400):
        record = (await api.get(f"/api/v1/ingestions/{ingestion_id}")).json()
        if record["status"] in ("succeeded", "failed"):
            return record
        await asyncio.sleep(0.025)
    raise AssertionError(f"ingestion {ingestion_id} did not finish")


async def pull(api, start: date, end: date) -> dict:  # type: ignore[no-untyped-def]
    body = {"source": "cerebra", "period": {"start": start.isoformat(), "end": end.isoformat()}}
    response = await api.post("/api/v1/ingestions", json=body)
    assert response.status_code == 202, response.text
    return await finished(api, response.json()["id"])


async def spend(api, account: str, group_by: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    params = {"from": "2024-09-01", "to": "2024-10-01", "filter": f"billing_account:{account}"}
    if group_by:
        params["group_by"] = group_by
    response = await api.get("/api/v1/costs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_on_demand_pulls_are_idempotent_per_hour(
    settings, serve_app, keystore, unique, cerebra, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    api = await economist_for(
        settings, serve_app, keystore, unique,
        oco_economist_cerebra_url=cerebra.url, oco_economist_cerebra_api_key=API_KEY,
    )  # fmt: skip
    account = cerebra.fake.account
    first = await pull(api, DAY, DAY + timedelta(days=1))
    assert first["status"] == "succeeded" and first["rows"] == 24 * len(KEYS), first
    assert first["options"] == {"url": cerebra.url}
    assert (await spend(api, account))["total"] == expected_total(DAY, DAY + timedelta(days=1))
    request = cerebra.requests[-1]
    assert request.query == {"from": ["2024-09-10"], "to": ["2024-09-11"], "format": ["csv"]}
    assert request.headers["x-api-key"] == API_KEY

    again = await pull(api, DAY, DAY + timedelta(days=1))  # the same hours again: replaced, not added
    assert again["replaced_rows"] == 24 * len(KEYS)
    assert (await spend(api, account))["total"] == expected_total(DAY, DAY + timedelta(days=1))

    wider = await pull(api, DAY, DAY + timedelta(days=2))  # a re-pull of a wider window replaces it
    assert wider["replaced_rows"] == 24 * len(KEYS) and wider["rows"] == 48 * len(KEYS)
    assert (await spend(api, account))["total"] == expected_total(DAY, DAY + timedelta(days=2))

    by_team = await spend(api, account, "tag:team")
    assert {row["tag:team"] for row in by_team["rows"]} == {"search", "support"}
    by_provider = await spend(api, account, "provider")
    assert {row["provider"] for row in by_provider["rows"]} == {"OpenAI", "Anthropic"}
    assert API_KEY not in caplog.text and API_KEY not in str(await api.get("/api/v1/ingestions"))


async def test_a_refused_key_fails_the_ingestion_without_showing_it(
    settings, serve_app, keystore, unique, cerebra, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    wrong = "oco_wrong-key-that-must-stay-secret-987654321"
    api = await economist_for(
        settings, serve_app, keystore, unique,
        oco_economist_cerebra_url=cerebra.url, oco_economist_cerebra_api_key=wrong,
    )  # fmt: skip
    record = await pull(api, DAY, DAY + timedelta(days=1))
    assert record["status"] == "failed"
    assert "HTTP 401" in record["errors"][0]["message"]
    listed = (await api.get(f"/api/v1/ingestions/{record['id']}")).text
    assert wrong not in listed and wrong not in caplog.text


async def test_the_source_needs_a_url_and_a_period(settings, serve_app, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    api = await economist_for(settings, serve_app, keystore, unique)
    response = await api.post(
        "/api/v1/ingestions",
        json={"source": "cerebra", "period": {"start": "2024-09-10", "end": "2024-09-11"}},
    )
    assert response.status_code == 400 and "OCO_ECONOMIST_CEREBRA_URL" in response.json()["error"]["message"]
    configured = await economist_for(
        settings, serve_app, keystore, unique, oco_economist_cerebra_url="http://127.0.0.1:9"
    )
    no_period = await configured.post("/api/v1/ingestions", json={"source": "cerebra"})
    assert no_period.status_code == 400 and no_period.json()["error"]["param"] == "period"


async def test_scheduled_pulls_count_each_hour_once(settings, serve_app, keystore, unique, cerebra) -> None:  # type: ignore[no-untyped-def]
    api = await economist_for(
        settings, serve_app, keystore, unique,
        oco_economist_cerebra_url=cerebra.url, oco_economist_cerebra_api_key=API_KEY,
        oco_economist_cerebra_interval_s=0.2,
    )  # fmt: skip
    for _ in range(400):
        if len(cerebra.requests) >= 3:
            break
        await asyncio.sleep(0.025)
    assert len(cerebra.requests) >= 3
    today = datetime.now(UTC).date()
    first = today - timedelta(days=1)
    assert cerebra.requests[0].query["from"] == [first.isoformat()]
    assert cerebra.requests[0].query["to"] == [(today + timedelta(days=1)).isoformat()]
    await asyncio.sleep(0.3)  # let the pull in flight publish
    params = {
        "from": first.isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
        "filter": f"billing_account:{cerebra.fake.account}",
    }
    listed = await api.get("/api/v1/ingestions", params={"source": "cerebra", "status": "succeeded"})
    assert listed.json()["total"] >= 2
    response = await api.get("/api/v1/costs", params=params)
    assert response.json()["total"] == expected_total(first, today + timedelta(days=1))


async def test_a_replica_holding_the_lock_skips_the_others(
    settings, serve_app, keystore, unique, cerebra
) -> None:  # type: ignore[no-untyped-def]
    from economist.ingestion.cerebra_schedule import CerebraSchedule

    api = await economist_for(
        settings, serve_app, keystore, unique,
        oco_economist_cerebra_url=cerebra.url, oco_economist_cerebra_api_key=API_KEY,
    )  # fmt: skip
    app = api.app
    schedule = CerebraSchedule(app.state.ingestion, app.state.kv, interval_s=60)
    async with app.state.kv.lock(LOCK_NAME, ttl_s=30):
        assert await schedule.pull_once() is None
    assert cerebra.requests == []
    assert await schedule.pull_once() is not None  # its turn
    assert await schedule.pull_once() is None  # pulled less than an interval ago
    assert len(cerebra.requests) == 1
