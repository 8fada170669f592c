"""Routes and prices changed through the admin API: validated like the route file, refused when they
would reach a private address or read an arbitrary variable, applied on the replica that took the write
at once and on another within the refresh, audited; a price set over HTTP reprices the next call."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import openai
import pytest

from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows


@pytest.fixture
async def admin_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("admin"), ["admin"])).plaintext


def _sdk(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


async def test_an_alias_added_over_http_serves_on_both_replicas_and_can_be_removed(  # type: ignore[no-untyped-def]
    gateway, fake_openai, admin_key, cerebra_key, unique
) -> None:
    routes = {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}}
    allow = {"oco_outbound_allow_hosts": "127.0.0.1", "oco_cerebra_control_refresh_s": 0.2}
    first, second = gateway(routes, **allow), gateway(routes, **allow)
    alias = unique("api-alias")
    spec = {"deployments": [deployment(fake_openai, "gpt-4o")], "fallbacks": ["chat"]}
    put = httpx.put(f"{first.url}/api/v1/routes/{alias}", headers={"X-API-Key": admin_key}, json=spec)
    assert put.status_code == 200, put.text
    fake_openai.enqueue(Reply(text="from the api alias"))
    reply = _sdk(first, cerebra_key).chat.completions.create(
        model=alias, messages=[{"role": "user", "content": "hi"}]
    )
    assert (
        reply.choices[0].message.content == "from the api alias"
        and fake_openai.last.json["model"] == "gpt-4o"
    )
    await asyncio.sleep(0.6)  # the other replica's refresh
    fake_openai.enqueue(Reply(text="second replica"))
    assert _sdk(second, cerebra_key).chat.completions.create(
        model=alias, messages=[{"role": "user", "content": "hi"}]
    )
    listed = httpx.get(f"{first.url}/api/v1/routes", headers={"X-API-Key": admin_key}).json()["items"]
    assert {(r["alias"], r["origin"]) for r in listed} >= {(alias, "api")}
    assert (
        httpx.delete(f"{first.url}/api/v1/routes/{alias}", headers={"X-API-Key": admin_key}).status_code
        == 204
    )
    with pytest.raises(openai.NotFoundError):
        _sdk(first, cerebra_key).chat.completions.create(
            model=alias, messages=[{"role": "user", "content": "hi"}]
        )
    trail = httpx.get(
        f"{first.url}/api/v1/audit",
        headers={"X-API-Key": admin_key},
        params={"entity": "route", "entity_id": alias},
    ).json()["items"]
    assert [t["action"] for t in trail] == ["delete", "create"]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"api_base": "http://169.254.169.254/v1"}, "deployments.0.api_base"),
        ({"api_key_env": "POSTGRES_PASSWORD"}, "deployments.0.api_key_env"),
        ({"provider": "nope"}, "deployments.0.provider"),
    ],
)
def test_unsafe_or_invalid_routes_are_refused(gateway, fake_openai, admin_key, patch, param) -> None:  # type: ignore[no-untyped-def]
    # the fakes listen on loopback, which the operator allows here; the metadata address stays refused
    server = gateway(
        {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}},
        oco_outbound_allow_hosts="127.0.0.1",
    )
    spec = {"deployments": [{**deployment(fake_openai, "gpt-4o"), **patch}]}
    answer = httpx.put(f"{server.url}/api/v1/routes/bad", headers={"X-API-Key": admin_key}, json=spec)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["param"] == param
    assert "169.254" not in answer.text  # the address is not echoed
    unknown_fallback = {"deployments": [deployment(fake_openai, "gpt-4o")], "fallbacks": ["missing"]}
    answer = httpx.put(
        f"{server.url}/api/v1/routes/bad", headers={"X-API-Key": admin_key}, json=unknown_fallback
    )
    assert answer.status_code == 422 and "unknown alias" in answer.json()["error"]["message"]


async def test_a_price_set_over_http_reprices_the_next_call(  # type: ignore[no-untyped-def]
    gateway, fake_openai, admin_key, cerebra_key, database, unique
) -> None:
    model = unique("house-model")  # unknown to the shipped table: unpriced until a price is set
    server = gateway({"house": {"deployments": [deployment(fake_openai, model)]}})
    sdk = _sdk(server, cerebra_key)
    fake_openai.enqueue(Reply(text="ok", usage=(1_000_000, 0)))
    before = sdk.chat.completions.with_raw_response.create(
        model="house", messages=[{"role": "user", "content": "a"}]
    )
    put = httpx.put(
        f"{server.url}/api/v1/prices/{model}",
        headers={"X-API-Key": admin_key},
        json={"effective_from": "2020-01-01", "input": "2.5", "output": "10"},
    )
    assert put.status_code == 200, put.text
    assert put.json()["input"] == "2.500000"
    fake_openai.enqueue(Reply(text="ok", usage=(1_000_000, 0)))
    after = sdk.chat.completions.with_raw_response.create(
        model="house", messages=[{"role": "user", "content": "a"}]
    )
    listed = httpx.get(f"{server.url}/api/v1/prices", headers={"X-API-Key": admin_key}).json()["items"]
    assert any(p["model"] == model for p in listed)
    removed = httpx.delete(
        f"{server.url}/api/v1/prices/{model}",
        headers={"X-API-Key": admin_key},
        params={"effective_from": "2020-01-01"},
    )
    assert removed.status_code == 204
    server.stop()
    rows = {r["request_id"]: r for r in await table_rows(database, "api_requests")}
    assert (
        rows[before.headers["x-request-id"]]["unpriced"]
        and rows[before.headers["x-request-id"]]["cost_usd"] is None
    )
    assert Decimal(str(rows[after.headers["x-request-id"]]["cost_usd"])) == Decimal("2.5")
