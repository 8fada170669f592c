"""The response cache through the official openai SDK against the fake upstreams (on the kv back end
the session runs with: in-process LRU, or Redis with OCO_TEST_REDIS_URL): hits that reach no provider,
misses on a changed parameter, `user` ignored, streams replayed from either kind of entry, the
Cache-Control and x-oco-cache-ttl directives, the temperature rule, the log row of a hit, rate limits,
key scopes, and what is never stored (errors, broken streams)."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import httpx
import openai
import pytest

from cerebra.cache.assemble import assemble
from cerebra.cache.keys import cache_key
from cerebra.cache.policy import decide
from cerebra.cache.replay import stream_body
from cerebra.cache.store import KvCacheStore, MemoryCacheStore
from cerebra.providers import Usage
from oco.kv import KV, MemoryKV, RedisKV
from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import require_or_skip, table_rows

HI = [{"role": "user", "content": "What is 2+2?"}]


def _routes(fake, cache: dict | None = None, alias: str = "chat") -> dict:  # type: ignore[no-untyped-def]
    spec: dict = {"deployments": [deployment(fake, "gpt-4o-mini")]}
    if cache is not None:
        spec["cache"] = cache
    return {alias: spec}


def _sdk(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def _ask(client: openai.OpenAI, headers: dict | None = None, **params):  # type: ignore[no-untyped-def]
    params = {"model": "chat", "messages": HI, "temperature": 0, **params}
    return client.chat.completions.with_raw_response.create(extra_headers=headers or {}, **params)


def _stream(client: openai.OpenAI, **params) -> tuple[str, list, dict]:  # type: ignore[no-untyped-def]
    """(text, chunks, headers) of a streamed call."""
    params = {"model": "chat", "messages": HI, "temperature": 0, "stream": True, **params}
    raw = client.chat.completions.with_raw_response.create(**params)
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks, dict(raw.headers)


async def _key(keystore, unique, **kw) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    made = await keystore.create(unique("cache"), ["cerebra"], **kw)
    return made.id, made.plaintext


async def test_identical_request_is_a_hit_and_reaches_no_provider(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai, {"ttl_s": 300}))
    client = _sdk(server, cerebra_key)
    fake_openai.enqueue(Reply(text="Four."))
    first = _ask(client)
    assert first.headers["x-oco-cache"] == "miss"
    calls = len(fake_openai.requests)
    second = _ask(client, user="someone-else")  # `user` is not part of the key
    assert second.headers["x-oco-cache"] == "hit"
    assert len(fake_openai.requests) == calls
    one, two = first.parse(), second.parse()
    assert two.choices[0].message.content == one.choices[0].message.content == "Four."
    assert two.usage is not None and two.usage.total_tokens == one.usage.total_tokens  # type: ignore[union-attr]
    # a changed parameter is another request: a miss that goes upstream
    fake_openai.enqueue(Reply(text="4"))
    changed = _ask(client, max_tokens=5)
    assert changed.headers["x-oco-cache"] == "miss" and changed.parse().choices[0].message.content == "4"
    assert len(fake_openai.requests) == calls + 1
    fake_openai.enqueue(Reply(text="other"))
    other_message = _ask(client, messages=[{"role": "user", "content": "What is 3+3?"}])
    assert other_message.headers["x-oco-cache"] == "miss"
    assert len(fake_openai.requests) == calls + 2


async def test_streams_are_replayed_from_either_kind_of_entry(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai, {"ttl_s": 300}))
    client = _sdk(server, cerebra_key)
    # stored from a plain call, served as a stream with usage
    fake_openai.enqueue(Reply(text="Two plus two is four.", usage=(13, 6)))
    plain = _ask(client).parse()
    calls = len(fake_openai.requests)
    text, chunks, headers = _stream(client, stream_options={"include_usage": True})
    assert headers["x-oco-cache"] == "hit" and len(fake_openai.requests) == calls
    assert text == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 13
    assert chunks[-1].usage.completion_tokens == 6
    text, chunks, _ = _stream(client)  # usage only when asked
    assert all(c.usage is None for c in chunks)
    # stored from a stream, served plain and as a stream
    question = [{"role": "user", "content": "Name a colour."}]
    fake_openai.enqueue(Reply(text="Blue is a colour.", usage=(9, 4)))
    first_text, _, first_headers = _stream(client, messages=question)
    assert first_headers["x-oco-cache"] == "miss" and first_text == "Blue is a colour."
    calls = len(fake_openai.requests)
    served = _ask(client, messages=question)
    assert served.headers["x-oco-cache"] == "hit" and len(fake_openai.requests) == calls
    completion = served.parse()
    assert completion.choices[0].message.content == "Blue is a colour."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    ) == (9, 4)
    again, _, again_headers = _stream(client, messages=question)
    assert again_headers["x-oco-cache"] == "hit" and again == first_text


async def test_streamed_tool_calls_are_stored_whole(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai, {"ttl_s": 300}))
    client = _sdk(server, cerebra_key)
    tools = [
        {
            "type": "function",
            "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    fake_openai.enqueue(Reply(tool_calls=[("weather", {"city": "Paris", "days": 3})]))
    _stream(client, tools=tools)
    calls = len(fake_openai.requests)
    served = _ask(client, tools=tools)
    assert served.headers["x-oco-cache"] == "hit" and len(fake_openai.requests) == calls
    choice = served.parse().choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "weather"  # type: ignore[union-attr]
    assert call.function.arguments.replace(" ", "") == '{"city":"Paris","days":3}'  # type: ignore[union-attr]


async def test_no_store_no_cache_and_the_ttl_header(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai, {"ttl_s": 300}))
    client = _sdk(server, cerebra_key)
    fake_openai.enqueue(Reply(text="not kept"))
    assert _ask(client, {"Cache-Control": "no-store"}).headers["x-oco-cache"] == "miss"
    fake_openai.enqueue(Reply(text="kept"))
    assert _ask(client).parse().choices[0].message.content == "kept"  # the no-store answer was not stored
    calls = len(fake_openai.requests)
    assert _ask(client).headers["x-oco-cache"] == "hit" and len(fake_openai.requests) == calls
    # no-cache: the entry is not read (the provider answers) but the fresh answer replaces it
    fake_openai.enqueue(Reply(text="fresh"))
    skipped = _ask(client, {"Cache-Control": "no-cache"})
    assert skipped.headers["x-oco-cache"] == "skip" and skipped.parse().choices[0].message.content == "fresh"
    assert len(fake_openai.requests) == calls + 1
    assert _ask(client).parse().choices[0].message.content == "fresh"
    assert len(fake_openai.requests) == calls + 1
    # x-oco-cache-ttl: this entry expires after one second
    question = [{"role": "user", "content": "short-lived"}]
    fake_openai.enqueue(Reply(text="brief"))
    _ask(client, {"x-oco-cache-ttl": "1"}, messages=question)
    assert _ask(client, messages=question).headers["x-oco-cache"] == "hit"
    time.sleep(1.3)
    fake_openai.enqueue(Reply(text="later"))
    expired = _ask(client, messages=question)
    assert expired.headers["x-oco-cache"] == "miss" and expired.parse().choices[0].message.content == "later"
    with pytest.raises(openai.BadRequestError) as bad:
        _ask(client, {"x-oco-cache-ttl": "soon"})
    assert bad.value.code == "invalid_header" and bad.value.param == "x-oco-cache-ttl"


async def test_route_ttl_expires_and_a_route_without_cache_says_nothing(
    gateway, fake_openai, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({**_routes(fake_openai, {"ttl_s": 1}), **_routes(fake_openai, None, "plain")})
    client = _sdk(server, cerebra_key)
    _ask(client)
    assert _ask(client).headers["x-oco-cache"] == "hit"
    time.sleep(1.3)
    calls = len(fake_openai.requests)
    assert _ask(client).headers["x-oco-cache"] == "miss" and len(fake_openai.requests) == calls + 1
    plain = [_ask(client, model="plain") for _ in range(2)]
    assert all("x-oco-cache" not in raw.headers for raw in plain)
    assert len(fake_openai.requests) == calls + 3
    # a ttl header makes one call cacheable on a route without `cache:` (in the key's own scope)
    _ask(client, {"x-oco-cache-ttl": "60"}, model="plain", seed=7)
    assert _ask(client, {"x-oco-cache-ttl": "60"}, model="plain", seed=7).headers["x-oco-cache"] == "hit"


async def test_sampled_answers_are_cached_only_when_the_route_says_so(
    gateway, fake_openai, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            **_routes(fake_openai, {"ttl_s": 300}),
            **_routes(fake_openai, {"ttl_s": 300, "temperature_ok": True}, "warm"),
        }
    )
    client = _sdk(server, cerebra_key)
    calls = len(fake_openai.requests)
    for params in ({"temperature": 0.7}, {"temperature": None}):  # None: omitted, OpenAI's default 1
        params = {k: v for k, v in params.items() if v is not None}
        raws = [
            client.chat.completions.with_raw_response.create(model="chat", messages=HI, **params)
            for _ in range(2)
        ]
        assert [raw.headers["x-oco-cache"] for raw in raws] == ["skip", "skip"]
    assert len(fake_openai.requests) == calls + 4
    warm = [client.chat.completions.with_raw_response.create(model="warm", messages=HI) for _ in range(2)]
    assert [raw.headers["x-oco-cache"] for raw in warm] == ["miss", "hit"]
    assert len(fake_openai.requests) == calls + 5


async def test_a_hit_is_logged_at_zero_cost_with_the_cost_it_saved(
    gateway, fake_openai, cerebra_key, database
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai, {"ttl_s": 300}))
    client = _sdk(server, cerebra_key)
    fake_openai.enqueue(Reply(text="priced", usage=(100_000, 20_000)))
    miss = _ask(client, seed=41)
    hit = _ask(client, seed=41)
    _, _, streamed = _stream(client, seed=41)
    assert hit.headers["x-oco-cache"] == streamed["x-oco-cache"] == "hit"
    server.stop()  # flushes the request log
    rows = {r["request_id"]: r for r in await table_rows(database, "api_requests")}
    original = rows[miss.headers["x-request-id"]]
    # gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens
    expected = (
        Decimal("100000") * Decimal("0.15") / 1_000_000 + Decimal("20000") * Decimal("0.60") / 1_000_000
    )
    assert Decimal(str(original["cost_usd"])) == expected and not original["cache_hit"]
    for request_id in (hit.headers["x-request-id"], streamed["x-request-id"]):
        row = rows[request_id]
        assert row["cache_hit"] and row["status_code"] == 200
        assert Decimal(str(row["cost_usd"])) == 0
        assert Decimal(str(row["saved_cost_usd"])) == expected
        assert row["provider"] == "openai" and row["attempts"] == 0
        assert row["prompt_tokens"] == 0 and row["completion_tokens"] == 0  # nothing was consumed


async def test_a_hit_counts_against_the_rate_limit_and_reserves_no_budget(
    gateway, fake_openai, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai, {"ttl_s": 300}))
    key_id, key = await _key(keystore, unique)
    admin = (await keystore.create(unique("admin"), ["admin"])).plaintext
    made = httpx.post(
        server.url + "/api/v1/rate-limits",
        headers={"X-API-Key": admin},
        json={"scope": "key", "scope_id": str(key_id), "rpm": 3},
    )
    assert made.status_code == 201, made.text
    budget = httpx.post(  # room for one call's worst case, not for a second one after it
        server.url + "/api/v1/budgets",
        headers={"X-API-Key": admin},
        json={"scope": "key", "scope_id": str(key_id), "period": "total", "limit_usd": "0.03"},
    )
    assert budget.status_code == 201, budget.text
    client = _sdk(server, key)
    fake_openai.enqueue(Reply(text="costly", usage=(100_000, 20_000)))  # $0.027 at gpt-4o-mini prices
    assert _ask(client).headers["x-ratelimit-remaining-requests"] == "2"
    hit = _ask(client)  # the budget has no room for another call: a hit needs none
    assert hit.headers["x-oco-cache"] == "hit" and hit.headers["x-ratelimit-remaining-requests"] == "1"
    with pytest.raises(openai.RateLimitError) as over_budget:  # a real call is refused by the budget
        _ask(client, seed=1)
    assert over_budget.value.code == "budget_exceeded"
    status = httpx.get(
        server.url + "/api/v1/budgets/status",
        params={"scope": "key", "scope_id": str(key_id)},
        headers={"X-API-Key": admin},
    ).json()
    assert Decimal(status["spent_usd"]) == Decimal("0.027") and Decimal(status["reserved_usd"]) == 0
    with pytest.raises(openai.RateLimitError) as refused:  # three requests this minute, the hit among them
        _ask(client)
    assert refused.value.code == "rate_limit_exceeded"
    assert refused.value.response.headers["x-oco-cache"] == "hit"
    assert len(fake_openai.requests) == 1


async def test_entries_stay_with_their_key_unless_the_route_shares_them(
    gateway, fake_openai, keystore, unique
) -> None:  # type: ignore[no-untyped-def]
    team = unique("team")
    server = gateway(
        {
            **_routes(fake_openai, {"ttl_s": 300}),
            **_routes(fake_openai, {"ttl_s": 300, "share": "team"}, "shared"),
            **_routes(fake_openai, {"ttl_s": 300, "share": "all"}, "public"),
        }
    )
    _, alice = await _key(keystore, unique, team=team)
    _, bob = await _key(keystore, unique, team=team)
    _, mallory = await _key(keystore, unique)  # no team: claims one with X-Team-ID
    _, limited = await _key(keystore, unique, team=team, models=["chat"])
    fake_openai.enqueue(Reply(text="alice's secret"))
    _ask(_sdk(server, alice))
    fake_openai.enqueue(Reply(text="bob's own"))
    other = _ask(_sdk(server, bob))
    assert other.headers["x-oco-cache"] == "miss" and other.parse().choices[0].message.content == "bob's own"
    fake_openai.enqueue(Reply(text="team answer"))
    _ask(_sdk(server, alice), model="shared")
    assert _ask(_sdk(server, bob), model="shared").parse().choices[0].message.content == "team answer"
    fake_openai.enqueue(Reply(text="mallory's own"))
    claimed = _ask(_sdk(server, mallory), {"X-Team-ID": team}, model="shared")
    assert claimed.headers["x-oco-cache"] == "miss"
    assert claimed.parse().choices[0].message.content == "mallory's own"
    with pytest.raises(openai.PermissionDeniedError) as denied:  # an allow-list is never served around
        _ask(_sdk(server, limited), model="shared")
    assert denied.value.code == "model_not_allowed"
    fake_openai.enqueue(Reply(text="public answer"))  # `share: all`: every caller of the alias
    _ask(_sdk(server, alice), model="public")
    calls = len(fake_openai.requests)
    public = _ask(_sdk(server, mallory), model="public")
    assert (
        public.headers["x-oco-cache"] == "hit"
        and public.parse().choices[0].message.content == "public answer"
    )
    assert len(fake_openai.requests) == calls


async def test_errors_and_broken_streams_are_never_stored(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_routes(fake_openai, {"ttl_s": 300}))
    client = _sdk(server, cerebra_key)
    fake_openai.enqueue(Reply(status=400, error_message="bad request"))
    with pytest.raises(openai.BadRequestError):
        _ask(client)
    fake_openai.enqueue(Reply(text="good"))
    assert _ask(client).headers["x-oco-cache"] == "miss"
    question = [{"role": "user", "content": "stream me"}]
    fake_openai.enqueue(Reply(text="one two three four five", drop_after_events=2))
    with pytest.raises(openai.APIError):
        _stream(client, messages=question)
    fake_openai.enqueue(Reply(text="whole answer"))
    text, _, headers = _stream(client, messages=question)
    assert headers["x-oco-cache"] == "miss" and text == "whole answer"
    assert _stream(client, messages=question)[0] == "whole answer"


# -- units ------------------------------------------------------------------------------------------


def test_the_key_ignores_who_and_how_but_not_what() -> None:
    body = {"model": "m", "messages": HI, "temperature": 0, "user": "a", "stream": True}
    key = cache_key("key:1", body)
    assert key == cache_key("key:1", {**body, "user": "b", "stream": False, "stream_options": {}})
    assert key == cache_key("key:1", {**body, "temperature": 0.0})
    assert key == cache_key("key:1", dict(reversed(list(body.items()))))
    for changed in (
        {"temperature": 0.5},
        {"seed": 1},
        {"tools": []},
        {"response_format": {"type": "json_object"}},
        {"n": 2},
        {"stop": ["x"]},
        {"model": "n"},
    ):
        assert cache_key("key:1", {**body, **changed}) != key
    assert cache_key("key:2", body) != key


def test_the_temperature_rule_and_directives() -> None:
    from cerebra.cache.policy import CacheSpec

    spec = CacheSpec(ttl_s=60)
    off = decide(spec, {}, None, None, None, 100)
    assert off is not None and not off.used  # omitted temperature = OpenAI's default 1
    both = decide(spec, {"temperature": 0}, "no-cache, no-store", None, None, 100)
    assert both is not None and not both.read and not both.write
    assert decide(None, {"temperature": 0}, None, None, None, 100) is None
    zero = decide(spec, {"temperature": 0}, None, "0", None, 100)
    assert zero is not None and zero.read and not zero.write


def test_assembly_refuses_incomplete_streams() -> None:
    whole = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": Usage(3, 1).to_openai(),
    }
    frames = stream_body(whole, include_usage=True)
    rebuilt = assemble([frames[:7], frames[7:]], Usage(3, 1))
    assert rebuilt is not None and rebuilt["choices"][0]["message"]["content"] == "hi"
    assert assemble([frames[: frames.index(b"data: [DONE]")]], Usage()) is None  # no [DONE]
    cut = frames.split(b"\n\n")
    assert assemble([b"\n\n".join(cut[:2]) + b"\n\ndata: [DONE]\n\n"], Usage()) is None  # no finish reason


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


async def test_kv_store_expires_entries(kv: KV) -> None:
    store = KvCacheStore(kv)
    await store.put("a", b"answer", 1)
    assert await store.get("a") == b"answer"
    time.sleep(1.1)
    assert await store.get("a") is None


async def test_memory_store_is_bounded_least_recently_used_first() -> None:
    store = MemoryCacheStore(max_bytes=10)
    await store.put("a", b"aaaa", 60)
    await store.put("b", b"bbbb", 60)
    assert await store.get("a") == b"aaaa"  # a is now the most recent
    await store.put("c", b"cccc", 60)
    assert await store.get("b") is None and await store.get("a") == b"aaaa" and await store.get("c")
    await store.put("huge", b"x" * 11, 60)
    assert await store.get("huge") is None and store.size <= 10


def test_the_route_tables_cache_block_is_validated() -> None:
    from cerebra.routing.table import RouteTable, RouteTableError

    base = {"deployments": [{"provider": "mock", "model": "oco-mock"}]}
    table = RouteTable.from_dict(
        {
            "models": {
                "a": {**base, "cache": {"ttl_s": 60, "share": "team"}},
                "w/*": {"deployments": [{"provider": "mock", "model": "*"}], "cache": {"ttl_s": 5}},
            }
        },
        env={},
    )
    assert table.routes["a"].cache is not None and table.routes["a"].cache.share == "team"
    wildcard = table.route_for("w/anything")
    assert wildcard is not None and wildcard.cache is not None and wildcard.cache.ttl_s == 5
    for cache, field in (
        ({"ttl_s": 0}, "ttl_s"),
        ({"ttl_s": 5, "share": "everyone"}, "share"),
        ({"ttl": 5}, "ttl"),
    ):
        with pytest.raises(RouteTableError) as bad:
            RouteTable.from_dict({"models": {"a": {**base, "cache": cache}}}, env={})
        assert f"models.a.cache.{field}" in str(bad.value)


async def test_an_unreachable_redis_fails_open() -> None:
    from prometheus_client import REGISTRY

    from cerebra.cache.pending import PendingWrite
    from cerebra.cache.service import ResponseCache
    from cerebra.gateway.context import CallContext

    def errors(op: str) -> float:
        return REGISTRY.get_sample_value("oco_cerebra_cache_backend_errors_total", {"op": op}) or 0

    dead = RedisKV("redis://127.0.0.1:1/0")
    cache = ResponseCache(KvCacheStore(dead), max_entry_bytes=1000, max_ttl_s=60)
    before_read, before_write = errors("read"), errors("write")
    assert await cache._get("k") is None  # a miss, not an error
    ctx = CallContext(request_id="r", endpoint="chat/completions")
    ctx.cache_pending = PendingWrite("k", 60, 1000, completion=b'{"choices": []}')
    await cache.save(ctx)  # the caller keeps its answer
    assert (errors("read"), errors("write")) == (before_read + 1, before_write + 1)
    await dead.close()
