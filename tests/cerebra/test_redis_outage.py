"""Redis stopped mid-run (issue #16): a proxy between the services and the shared Redis is cut and
restored. Cerebra keeps serving (the cache misses; rate limits fail open, or answer 503 with
OCO_RATELIMIT_FAIL_MODE=closed; a budgeted call is refused with 503 rather than risk overshooting),
economist and aegis answer as before, and when Redis returns the rate limits, the cache and the budgets
work again with the spend intact. Needs Redis (the PostgreSQL + Redis run of .ci/run)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import httpx

from aegis.app import create_app as create_aegis
from economist.app import create_app as create_economist
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.cerebra.tcp_proxy import CuttableProxy
from tests.conftest import require_or_skip

HI = {"model": "chat", "messages": [{"role": "user", "content": "What is 2+2?"}], "temperature": 0}


def _through(redis_url: str, port: int) -> str:
    parts = urlsplit(redis_url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


async def _chat(server, key: str, **headers: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=20) as client:
        return await client.post(
            server.url + "/v1/chat/completions",
            json=HI,
            headers={"Authorization": f"Bearer {key}", **headers},
        )


UNCACHED = {"Cache-Control": "no-cache, no-store"}


async def _spent(server, admin: str, key_id: int) -> Decimal:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=20) as client:
        status = await client.get(
            server.url + "/api/v1/budgets/status",
            headers={"X-API-Key": admin},
            params={"scope": "key", "scope_id": str(key_id)},
        )
    assert status.status_code == 200, status.text
    return Decimal(status.json()["spent_usd"])


async def test_redis_away_mid_run(  # type: ignore[no-untyped-def]
    gateway, fake_openai, keystore, unique, redis_url, settings, serve_app
) -> None:
    if not redis_url:
        require_or_skip("OCO_TEST_REDIS_URL")
    parts = urlsplit(redis_url)
    proxy = await CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    proxied = _through(redis_url, proxy.port)
    routes = {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")], "cache": {"ttl_s": 300}}}
    open_server = gateway(routes, redis_url=proxied, oco_ratelimit_fail_mode="open")
    closed_server = gateway(routes, redis_url=proxied, oco_ratelimit_fail_mode="closed")
    admin = (await keystore.create(unique("admin"), ["admin"])).plaintext
    app_key = await keystore.create(unique("app"), ["cerebra"])
    budgeted = await keystore.create(unique("budgeted"), ["cerebra"])
    async with httpx.AsyncClient(timeout=20) as client:
        made = await client.post(
            open_server.url + "/api/v1/rate-limits",
            headers={"X-API-Key": admin},
            json={"scope": "key", "scope_id": str(app_key.id), "rpm": 1000},
        )
        assert made.status_code == 201, made.text
        made = await client.post(
            open_server.url + "/api/v1/budgets",
            headers={"X-API-Key": admin},
            json={"scope": "key", "scope_id": str(budgeted.id), "period": "daily", "limit_usd": "10"},
        )
        assert made.status_code == 201, made.text
    await asyncio.sleep(5.5)  # the other replica's rules refresh (OCO_CEREBRA_CONTROL_REFRESH_S, 5 s)
    economist = await serve_app(create_economist(settings.model_copy(update={"redis_url": proxied})))
    aegis = await serve_app(create_aegis(settings.model_copy(update={"redis_url": proxied})))
    other = {"X-API-Key": (await keystore.create(unique("ops"), ["economist", "aegis"])).plaintext}
    try:
        fake_openai.enqueue(Reply(text="4"))
        before = await _chat(open_server, app_key.plaintext)
        again = await _chat(open_server, app_key.plaintext)
        assert before.status_code == again.status_code == 200
        assert before.headers["x-ratelimit-limit-requests"] == "1000"
        assert (before.headers["x-oco-cache"], again.headers["x-oco-cache"]) == ("miss", "hit")
        fake_openai.enqueue(Reply(text="4"))  # the default usage: a leftover reply would cost the same
        assert (await _chat(open_server, budgeted.plaintext, **UNCACHED)).status_code == 200
        one_call = await _spent(open_server, admin, budgeted.id)
        assert one_call > 0

        await proxy.cut()
        calls = len(fake_openai.requests)
        fake_openai.enqueue(Reply(text="4"), Reply(text="4"))
        during = [await _chat(open_server, app_key.plaintext) for _ in range(2)]
        assert [r.status_code for r in during] == [200, 200]  # kept serving
        assert all("x-ratelimit-limit-requests" not in r.headers for r in during)  # limits failed open
        assert all(r.headers["x-oco-cache"] != "hit" for r in during)  # the cache missed
        assert len(fake_openai.requests) == calls + 2  # so the provider answered
        refused = await _chat(closed_server, app_key.plaintext)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "rate_limiter_unavailable"
        calls = len(fake_openai.requests)
        unbudgetable = await _chat(open_server, budgeted.plaintext, **UNCACHED)  # never overshoot blind
        assert (
            unbudgetable.status_code == 503 and unbudgetable.json()["error"]["code"] == "budget_unavailable"
        )
        assert len(fake_openai.requests) == calls
        assert (await economist.get("/api/v1/ingestions", headers=other)).status_code == 200
        assert (await aegis.get("/api/v1/backups", headers=other)).status_code == 200

        await proxy.restore()
        recovered = None
        for _ in range(40):  # redis-py reconnects on the next command
            fake_openai.enqueue(Reply(text="4"))
            recovered = await _chat(closed_server, app_key.plaintext)
            if recovered.status_code == 200 and "x-ratelimit-limit-requests" in recovered.headers:
                break
            await asyncio.sleep(0.25)
        assert recovered is not None and recovered.status_code == 200, recovered.text if recovered else None
        assert recovered.headers["x-ratelimit-limit-requests"] == "1000"
        hit = await _chat(open_server, app_key.plaintext)
        assert hit.headers["x-oco-cache"] == "hit"  # the entry written before the outage is read again
        fake_openai.enqueue(Reply(text="4"))  # the default usage: a leftover reply would cost the same
        assert (await _chat(open_server, budgeted.plaintext, **UNCACHED)).status_code == 200
        assert await _spent(open_server, admin, budgeted.id) == 2 * one_call  # nothing lost or doubled
    finally:
        await proxy.close()
