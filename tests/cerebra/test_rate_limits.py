"""Caller rate limits: the GCRA script on both kv back ends, limits set through the admin API and
enforced on the gateway with OpenAI's x-ratelimit-* headers and 429 + Retry-After (no provider called),
tokens per minute corrected by real usage, one limit shared by two instances through Redis, and the
fail mode when the kv is down."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import openai
import pytest

from cerebra.ratelimit.gcra import GCRA, limit_args, remaining
from cerebra.ratelimit.limiter import duration
from oco.kv import KV, MemoryKV, RedisKV
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import require_or_skip


@pytest.fixture(params=["memory", "redis"])
async def kv(request, redis_url):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        backend: KV = MemoryKV()
    else:
        if not redis_url:
            require_or_skip("OCO_TEST_REDIS_URL")
        backend = RedisKV(redis_url, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    yield backend
    await backend.close()


async def test_gcra_admits_a_minutes_allowance_then_refuses_with_a_retry_time(kv: KV) -> None:
    outcomes = [await kv.run(GCRA, ["a"], ["0", *limit_args(5, 1)]) for _ in range(6)]
    assert [o[0] for o in outcomes] == [1, 1, 1, 1, 1, 0]
    assert [remaining(5, o[2]) for o in outcomes[:5]] == [4, 3, 2, 1, 0]
    retry_us = outcomes[5][1]
    assert 11_000_000 <= retry_us <= 12_000_000  # one request per 12 s refills
    # all or nothing: a refused call charges none of its limits
    before = await kv.get("b")
    refused = await kv.run(GCRA, ["b", "a"], ["0", *limit_args(100, 1), *limit_args(5, 1)])
    assert refused[0] == 0 and await kv.get("b") == before
    # force charges past the limit; a negative cost gives units back
    forced = await kv.run(GCRA, ["c"], ["1", *limit_args(10, 25)])
    assert forced[0] == 1 and remaining(10, forced[2]) == 0
    back = await kv.run(GCRA, ["c"], ["1", *limit_args(10, -25)])
    assert remaining(10, back[2]) == 10


def test_reset_durations_use_openais_format() -> None:
    assert [duration(us) for us in (20_000, 1_500_000, 360_000_000, 61_250_000)] == [
        "20ms",
        "1.5s",
        "6m0s",
        "1m1.25s",
    ]


@pytest.fixture
async def admin_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("admin"), ["admin"])).plaintext


async def _key(keystore, unique, **kw) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    created = await keystore.create(unique("app"), ["cerebra"], **kw)
    return created.id, created.plaintext


def _chat(server, key: str, model: str = "chat"):  # type: ignore[no-untyped-def]
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
    return sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )


async def test_requests_per_minute_with_headers_and_429(
    gateway, fake_openai, keystore, unique, admin_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    key_id, key = await _key(keystore, unique)
    made = httpx.post(
        server.url + "/api/v1/rate-limits",
        headers={"X-API-Key": admin_key},
        json={"scope": "key", "scope_id": str(key_id), "model": None, "rpm": 3, "tpm": None},
    )
    assert made.status_code == 201, made.text
    for left in (2, 1, 0):
        fake_openai.enqueue(Reply(text="ok"))
        raw = _chat(server, key)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-remaining-requests"] == str(left)
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
    calls = len(fake_openai.requests)
    with pytest.raises(openai.RateLimitError) as refused:
        _chat(server, key)
    assert refused.value.code == "rate_limit_exceeded"
    # 3 a minute: one more comes 20 s after the burst began (less the few ms the three calls took)
    assert 15 <= int(refused.value.response.headers["retry-after"]) <= 20
    assert refused.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake_openai.requests) == calls  # refused before any provider call
    # another key is not limited; deleting the limit lifts it at once
    _, other = await _key(keystore, unique)
    fake_openai.enqueue(Reply(text="ok"))
    assert "x-ratelimit-limit-requests" not in _chat(server, other).headers
    limit_id = made.json()["id"]
    assert (
        httpx.delete(
            f"{server.url}/api/v1/rate-limits/{limit_id}", headers={"X-API-Key": admin_key}
        ).status_code
        == 204
    )
    fake_openai.enqueue(Reply(text="ok"))
    assert _chat(server, key).http_response.status_code == 200


async def test_tokens_per_minute_count_the_real_usage(
    gateway, fake_openai, keystore, unique, admin_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    team = unique("team")
    _, key = await _key(keystore, unique, team=team)
    made = httpx.post(
        server.url + "/api/v1/rate-limits",
        headers={"X-API-Key": admin_key},
        json={"scope": "team", "scope_id": team, "model": "chat", "tpm": 1000},
    )
    assert made.status_code == 201, made.text
    fake_openai.enqueue(Reply(text="ok", usage=(600, 500)))  # 1,100 tokens: over the minute's 1,000
    first = _chat(server, key)
    assert first.headers["x-ratelimit-limit-tokens"] == "1000"
    with pytest.raises(openai.RateLimitError) as refused:
        _chat(server, key)
    assert "tokens per minute" in refused.value.message


def test_invalid_rate_limits_name_the_field(gateway, fake_openai, admin_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    for body, field in [
        ({"scope": "key", "scope_id": "abc", "rpm": 1}, "scope_id"),
        ({"scope": "user", "scope_id": "1", "rpm": 1}, "scope"),
        ({"scope": "team", "scope_id": "t"}, "tpm"),
        ({"scope": "team", "scope_id": "t", "rpm": 0}, "rpm"),
    ]:
        answer = httpx.post(server.url + "/api/v1/rate-limits", headers={"X-API-Key": admin_key}, json=body)
        assert answer.status_code == 422 and field in answer.json()["error"]["param"], answer.text
    body = {"scope": "team", "scope_id": "dup-team", "rpm": 5}
    assert (
        httpx.post(
            server.url + "/api/v1/rate-limits", headers={"X-API-Key": admin_key}, json=body
        ).status_code
        == 201
    )
    again = httpx.post(server.url + "/api/v1/rate-limits", headers={"X-API-Key": admin_key}, json=body)
    assert again.status_code == 409


async def test_one_limit_holds_across_two_instances_sharing_redis(  # type: ignore[no-untyped-def]
    gateway, fake_openai, keystore, unique, admin_key, redis_url
) -> None:
    if not redis_url:
        require_or_skip("OCO_TEST_REDIS_URL")
    routes = {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}}
    first = gateway(routes, oco_cerebra_control_refresh_s=0.2)
    second = gateway(routes, oco_cerebra_control_refresh_s=0.2)
    key_id, key = await _key(keystore, unique)
    made = httpx.post(
        first.url + "/api/v1/rate-limits",
        headers={"X-API-Key": admin_key},
        json={"scope": "key", "scope_id": str(key_id), "rpm": 4},
    )
    assert made.status_code == 201
    await asyncio.sleep(0.6)  # the other replica's refresh picks the new limit up
    served = refused = 0
    for i in range(8):
        fake_openai.enqueue(Reply(text="ok"))
        try:
            raw = _chat(first if i % 2 else second, key)
            served += 1
            assert raw.headers["x-ratelimit-remaining-requests"] == str(4 - served)
        except openai.RateLimitError:
            refused += 1
    assert (served, refused) == (4, 4)


async def test_fail_mode_when_the_kv_is_down(gateway, fake_openai, keystore, unique, admin_key) -> None:  # type: ignore[no-untyped-def]
    routes = {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}}
    key_id, key = await _key(keystore, unique)
    broken = "redis://127.0.0.1:1/0"  # nothing listens there
    open_server = gateway(routes, redis_url=broken, oco_ratelimit_fail_mode="open")
    made = httpx.post(
        open_server.url + "/api/v1/rate-limits",
        headers={"X-API-Key": admin_key},
        json={"scope": "key", "scope_id": str(key_id), "rpm": 1},
    )
    assert made.status_code == 201
    for _ in range(2):
        fake_openai.enqueue(Reply(text="ok"))
        assert _chat(open_server, key).http_response.status_code == 200
    closed_server = gateway(routes, redis_url=broken, oco_ratelimit_fail_mode="closed")
    with pytest.raises(openai.InternalServerError) as refused:
        _chat(closed_server, key)
    assert refused.value.status_code == 503 and refused.value.code == "rate_limiter_unavailable"
