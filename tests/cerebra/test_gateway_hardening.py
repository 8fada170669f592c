"""Hostile and unlucky inputs: long attribution labels, path traversal and non-inference endpoints on
the native routes, provider 4xx on native calls, usage on native streams, header-unsafe model names."""

from __future__ import annotations

import httpx
import openai

from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows

HELLO = [{"role": "user", "content": "hello"}]


async def test_long_labels_and_unknown_routes_are_still_logged(
    gateway, fake_openai, cerebra_key, database
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    auth = {"Authorization": f"Bearer {cerebra_key}"}
    agent = "agent-" + "x" * 400
    with httpx.Client(base_url=server.url, headers=auth, timeout=10) as http:
        ok = http.post(
            "/v1/chat/completions",
            json={"model": "chat", "messages": HELLO},
            headers={"X-Agent-ID": agent, "X-Org-ID": "o" * 300},
        )
        assert ok.status_code == 200
        lost = http.get("/v1/assistants/asst_abc123/threads/thread_abc123/messages")
        assert lost.status_code == 404
    server.stop()  # flushes the log
    rows = {r["request_id"]: r for r in await table_rows(database, "api_requests")}
    assert rows[ok.headers["x-request-id"]]["agent_id"] == agent[:200]
    assert rows[lost.headers["x-request-id"]]["endpoint"] == "unknown"


async def test_native_routes_refuse_traversal_and_other_apis(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}},
        providers={"openai": {"api_base": fake_openai.base_url, "api_key_env": "TEST_OPENAI_KEY"}},
    )
    auth = {"Authorization": f"Bearer {cerebra_key}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=10) as http:
        for path in (
            "/v1/openai/%2e%2e/%2e%2e/admin%3Fdelete=1",
            "/v1/openai/files",
            "/v1/openai/fine_tuning/jobs",
            "/v1/anthropic/v1/messages/batches",
            "/v1/gemini/v1beta/files",
        ):
            response = http.post(path, json={"model": "chat"})
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "unknown_route"
        bad_model = http.post("/v1/openai/chat/completions", json={"model": "gpt\r\nx: y", "messages": HELLO})
        assert bad_model.status_code == 400 and bad_model.json()["error"]["param"] == "model"
    assert fake_openai.count == 0


async def test_native_provider_4xx_passes_through_without_cooling_down(
    gateway, fake_openai, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}}, oco_cerebra_cooldown_failures=2
    )
    native = openai.OpenAI(base_url=server.url + "/v1/openai", api_key=cerebra_key, max_retries=0)
    for _ in range(3):
        fake_openai.enqueue(Reply(status=404, error_message="The model does not exist"))
        try:
            native.chat.completions.create(model="chat", messages=HELLO)
        except openai.NotFoundError as exc:
            assert "does not exist" in str(exc)
        else:
            raise AssertionError("the provider's 404 must reach the caller")
    gateway_client = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    raw = gateway_client.chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert raw.headers["x-oco-provider"] == "openai"  # still healthy: a caller's 404 is not an outage


async def test_native_openai_stream_is_priced_even_without_include_usage(
    gateway, fake_openai, cerebra_key, database
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    native = openai.OpenAI(base_url=server.url + "/v1/openai", api_key=cerebra_key, max_retries=0)
    fake_openai.enqueue(Reply(text="a b c", usage=(40, 3)))
    raw = native.chat.completions.with_raw_response.create(model="chat", messages=HELLO, stream=True)
    chunks = list(raw.parse())
    assert all(c.usage is None for c in chunks)  # not asked for: stripped again
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a b c"
    assert fake_openai.last.json["stream_options"] == {"include_usage": True}
    server.stop()
    row = next(
        r
        for r in await table_rows(database, "api_requests")
        if r["request_id"] == raw.headers["x-request-id"]
    )
    assert (row["prompt_tokens"], row["completion_tokens"]) == (40, 3)
    assert row["cost_usd"] is not None and row["cost_usd"] > 0


async def test_auto_without_a_capable_deployment_is_a_400_and_errors_carry_headers(
    gateway, fake_openai, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {"mini": {"deployments": [deployment(fake_openai, "gpt-4o-mini", supports_tools=False)]}}
    )
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    ]
    try:
        client.chat.completions.create(model="auto", messages=HELLO, tools=tools)
    except openai.BadRequestError as exc:
        assert exc.body["code"] == "no_capable_deployment"
    else:
        raise AssertionError("expected a 400")
    fake_openai.enqueue(Reply(status=500), Reply(status=500))
    try:
        client.chat.completions.create(model="mini", messages=HELLO)
    except openai.InternalServerError as exc:
        assert exc.response.headers["x-oco-attempts"] == "2"
        assert "127.0.0.1" in exc.body["attempts"][0]["deployment"]
    else:
        raise AssertionError("expected a 502")


async def test_every_deployment_rate_limited_is_a_429_with_retry_after(
    gateway, fake_openai, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    fake_openai.enqueue(Reply(status=429, retry_after="30"))
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    try:
        client.chat.completions.create(model="chat", messages=HELLO)
    except openai.RateLimitError as exc:
        assert exc.response.headers["retry-after"] == "30"
    else:
        raise AssertionError("expected a 429")


async def test_native_gemini_with_googles_key_header(gateway, fake_gemini, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    from tests.cerebra.conftest import GEMINI_KEY

    server = gateway({"gem": {"deployments": [deployment(fake_gemini, "gemini-2.0-flash")]}})
    fake_gemini.enqueue(Reply(text="hola", usage=(9, 2)))
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post(
            "/v1/gemini/v1beta/models/gem:generateContent", json=body, headers={"x-goog-api-key": cerebra_key}
        )
        refused = http.post(
            "/v1/gemini/v1beta/models/gem:generateContent", json=body, headers={"x-goog-api-key": "oco_wrong"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["candidates"][0]["content"]["parts"][0]["text"] == "hola"
    assert refused.status_code == 401
    sent = fake_gemini.last
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"  # the alias became the model
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY and cerebra_key not in str(sent.headers)
    server.stop()
    row = next(
        r
        for r in await table_rows(database, "api_requests")
        if r["request_id"] == answer.headers["x-request-id"]
    )
    assert (row["prompt_tokens"], row["completion_tokens"]) == (9, 2) and row["endpoint"] == "native:gemini"
