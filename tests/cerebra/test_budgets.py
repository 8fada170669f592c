"""Budgets that cannot be overshot, on every back end (in-process, Redis, and PostgreSQL's row lock
without Redis): 50 concurrent calls against a budget that allows 10, streamed calls billed their real
usage, the status endpoint, the ledger of record surviving a lost kv, and threshold alerts sent once
as signed webhooks."""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal

import httpx
import openai
import pytest

from oco.notify import verify
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows
from tests.economist.governance_helpers import receiver, wait_for

# $1,000 per 1M tokens in and out: a token costs $0.001, so the figures below are easy to check.
PRICED = {"input_price": "1000", "output_price": "1000"}
USAGE = (2, 10)  # what the fake upstream reports: a call costs $0.012
CALL_COST = Decimal("0.012")
SECRET = "test-webhook-secret-0123456789"


@pytest.fixture
async def admin_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("admin"), ["admin"])).plaintext


def _routes(fake) -> dict:  # type: ignore[no-untyped-def]
    return {"chat": {"deployments": [deployment(fake, "gpt-4o-mini", **PRICED)]}}


def _budget(server, admin_key: str, **body) -> dict:  # type: ignore[no-untyped-def]
    made = httpx.post(server.url + "/api/v1/budgets", headers={"X-API-Key": admin_key}, json=body)
    assert made.status_code == 201, made.text
    return made.json()


def _status(server, admin_key: str, scope: str, scope_id: str) -> dict:  # type: ignore[no-untyped-def]
    answer = httpx.get(
        server.url + "/api/v1/budgets/status",
        headers={"X-API-Key": admin_key},
        params={"scope": scope, "scope_id": scope_id},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


BACKENDS = ["configured", "sql-row-lock"]


@pytest.fixture(params=BACKENDS)
def backend(request, database_url, redis_url) -> dict:  # type: ignore[no-untyped-def]
    """Settings overrides of each budget back end: the configured one (in-process with SQLite, Redis
    when OCO_TEST_REDIS_URL is set), and PostgreSQL without Redis (the row-lock ledger)."""
    if request.param == "configured":
        return {}
    if not database_url.startswith("postgresql"):
        pytest.skip("the row-lock ledger is PostgreSQL's (without Redis)")
    return {"redis_url": None}


async def test_fifty_concurrent_calls_against_a_budget_that_allows_ten(  # type: ignore[no-untyped-def]
    gateway, fake_openai, keystore, unique, admin_key, backend
) -> None:
    server = gateway(_routes(fake_openai), **backend)
    created = await keystore.create(unique("app"), ["cerebra"])
    limit = CALL_COST * 10
    budget = _budget(
        server, admin_key, scope="key", scope_id=str(created.id), period="daily", limit_usd=str(limit)
    )
    for _ in range(50):
        fake_openai.enqueue(Reply(text="ok", usage=USAGE))
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=created.plaintext, max_retries=0)

    async def call() -> str:
        try:
            await client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=USAGE[1]
            )
            return "served"
        except openai.RateLimitError as exc:
            assert exc.code == "budget_exceeded", exc
            return "refused"

    outcomes = await asyncio.gather(*(call() for _ in range(50)))
    served = outcomes.count("served")
    # a call's reservation (2 estimated prompt tokens + max_tokens 10) is exactly its real cost, so exactly
    # ten fit in the budget, however the 50 interleave
    assert (served, outcomes.count("refused")) == (10, 40)
    assert len(fake_openai.requests) == served  # refused calls reached no provider
    status = _status(server, admin_key, "key", str(created.id))
    spent = Decimal(status["spent_usd"])
    assert spent == CALL_COST * served and spent <= limit + CALL_COST
    assert Decimal(status["reserved_usd"]) == 0
    assert Decimal(status["remaining_usd"]) == limit - spent
    assert Decimal(status["limit_usd"]) == limit and isinstance(status["limit_usd"], str)
    assert status["budget_id"] == budget["id"] and status["period_end"]


async def test_a_streamed_call_is_billed_its_real_usage_and_the_ledger_survives_the_kv(  # type: ignore[no-untyped-def]
    gateway, fake_openai, keystore, unique, admin_key, database, redis_url
) -> None:
    team = unique("team")
    server = gateway(_routes(fake_openai))
    created = await keystore.create(unique("app"), ["cerebra"], team=team)
    _budget(server, admin_key, scope="team", scope_id=team, period="monthly", limit_usd="5")
    fake_openai.enqueue(Reply(text="streamed answer", usage=(40, 60)))
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=created.plaintext, max_retries=0)
    stream = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        max_tokens=100,
        stream_options={"include_usage": True},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert Decimal(_status(server, admin_key, "team", team)["spent_usd"]) == Decimal("0.1")  # 100 tokens
    server.stop()  # flushes the ledger of record
    rows = await table_rows(database, "cerebra_budget_spend")
    assert sum(Decimal(str(r["spent_usd"])) for r in rows) >= Decimal("0.1")
    if redis_url:  # a flushed Redis loses nothing: the spend is rebuilt from the ledger
        import redis

        client_ = redis.Redis.from_url(redis_url)
        client_.flushdb()
        client_.close()
    restarted = gateway(_routes(fake_openai))  # in-process: a new process's empty kv
    assert Decimal(_status(restarted, admin_key, "team", team)["spent_usd"]) == Decimal("0.1")


async def test_thresholds_alert_once_with_a_signed_webhook(  # type: ignore[no-untyped-def]
    gateway, fake_openai, keystore, unique, admin_key
) -> None:
    async with receiver() as hook:
        server = gateway(_routes(fake_openai), oco_notify_secret=SECRET, oco_notify_allow_hosts="127.0.0.1")
        agent = unique("agent")
        created = await keystore.create(unique("app"), ["cerebra"])
        _budget(
            server,
            admin_key,
            scope="agent",
            scope_id=agent,
            period="total",
            limit_usd="0.05",
            thresholds=[0.5, 1.0],
            webhook_url=hook.url,
        )
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=created.plaintext, max_retries=0)
        for _ in range(3):  # $0.012 each: the third crosses 50% of $0.05
            fake_openai.enqueue(Reply(text="ok", usage=USAGE))
            await client.chat.completions.create(
                model="chat",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=10,
                extra_headers={"X-Agent-ID": agent},
            )
        received = await wait_for(lambda: _first(hook), "the threshold webhook")
        body, headers = received
        assert verify(SECRET, body, headers["X-OCO-Signature"])
        assert b'"threshold":"0.5"' in body and b'"spent_usd":"0.036000"' in body
        fake_openai.enqueue(Reply(text="ok", usage=USAGE))
        await client.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=10,
            extra_headers={"X-Agent-ID": agent},
        )
        await asyncio.sleep(0.5)
        assert len(hook.received) == 1  # once per budget, period and threshold


async def _first(hook):  # type: ignore[no-untyped-def]
    return hook.received[0] if hook.received else None


def test_invalid_budgets_name_the_field(gateway, fake_openai, admin_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai))
    for body, field in [
        ({"scope": "key", "scope_id": "x", "period": "daily", "limit_usd": "1"}, "scope_id"),
        ({"scope": "team", "scope_id": "t", "period": "hourly", "limit_usd": "1"}, "period"),
        ({"scope": "team", "scope_id": "t", "period": "daily", "limit_usd": 1.5}, "limit_usd"),
        ({"scope": "team", "scope_id": "t", "period": "daily", "limit_usd": "-1"}, "limit_usd"),
        (
            {"scope": "team", "scope_id": "t", "period": "daily", "limit_usd": "1", "thresholds": [0]},
            "thresholds",
        ),
        (
            {"scope": "team", "scope_id": "t", "period": "daily", "limit_usd": "1", "webhook_url": "ftp://x"},
            "webhook_url",
        ),
    ]:
        answer = httpx.post(server.url + "/api/v1/budgets", headers={"X-API-Key": admin_key}, json=body)
        assert answer.status_code == 422 and field in answer.json()["error"]["param"], (body, answer.text)
    missing = httpx.get(
        server.url + "/api/v1/budgets/status",
        headers={"X-API-Key": admin_key},
        params={"scope": "team", "scope_id": os.urandom(4).hex()},
    )
    assert missing.status_code == 404
