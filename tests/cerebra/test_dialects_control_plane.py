"""Every dialect goes through the same control plane as chat: a budget that a Messages or Responses
call would overshoot refuses it before any provider is called (in that dialect's error shape), and a
rate limit counts those calls; reasoning text from an Anthropic deployment comes back as a Responses
`reasoning` item."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply

PRICED = {"input_price": "1000", "output_price": "1000"}  # $0.001 a token


@pytest.fixture
async def admin_key(keystore, unique) -> str:  # type: ignore[no-untyped-def]
    return (await keystore.create(unique("admin"), ["admin"])).plaintext


def _admin(server, admin_key: str, path: str, body: dict) -> None:  # type: ignore[no-untyped-def]
    made = httpx.post(server.url + path, headers={"X-API-Key": admin_key}, json=body)
    assert made.status_code == 201, made.text


async def test_messages_and_responses_are_budgeted_and_rate_limited(  # type: ignore[no-untyped-def]
    gateway, fake_openai, keystore, unique, admin_key
) -> None:
    server = gateway({"m": {"deployments": [deployment(fake_openai, "gpt-4o-mini", **PRICED)]}})
    created = await keystore.create(unique("app"), ["cerebra"])
    _admin(
        server,
        admin_key,
        "/api/v1/budgets",
        {"scope": "key", "scope_id": str(created.id), "period": "daily", "limit_usd": "0.05"},
    )
    claude = anthropic.Anthropic(base_url=server.url, api_key=created.plaintext, max_retries=0)
    gpt = openai.OpenAI(base_url=server.url + "/v1", api_key=created.plaintext, max_retries=0)
    calls = len(fake_openai.requests)
    with pytest.raises(anthropic.RateLimitError) as refused:  # up to 1,000 output tokens = $1
        claude.messages.create(model="m", max_tokens=1000, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body["type"] == "error" and "budget" in refused.value.body["error"]["message"]
    with pytest.raises(openai.RateLimitError) as refused_responses:
        gpt.responses.create(model="m", input="hi", max_output_tokens=1000)
    assert refused_responses.value.code == "budget_exceeded"
    assert len(fake_openai.requests) == calls  # neither reached the provider
    fake_openai.enqueue(Reply(text="ok", usage=(5, 5)))
    small = claude.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert small.content[0].text == "ok"
    status = httpx.get(
        server.url + "/api/v1/budgets/status",
        headers={"X-API-Key": admin_key},
        params={"scope": "key", "scope_id": str(created.id)},
    ).json()
    assert status["spent_usd"] == "0.010000"  # the Messages call was settled at its real cost

    limited = await keystore.create(unique("limited"), ["cerebra"])
    _admin(server, admin_key, "/api/v1/rate-limits", {"scope": "key", "scope_id": str(limited.id), "rpm": 1})
    claude = anthropic.Anthropic(base_url=server.url, api_key=limited.plaintext, max_retries=0)
    fake_openai.enqueue(Reply(text="ok"))
    claude.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError):
        openai.OpenAI(base_url=server.url + "/v1", api_key=limited.plaintext, max_retries=0).responses.create(
            model="m", input="hi", max_output_tokens=10
        )


def test_anthropic_thinking_comes_back_as_a_responses_reasoning_item(
    gateway, fake_anthropic, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"claude": {"deployments": [deployment(fake_anthropic, "claude-sonnet-4-5")]}})
    fake_anthropic.enqueue(Reply(text="42", reasoning="six times seven"))
    response = openai.OpenAI(
        base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0
    ).responses.create(
        model="claude", input="what is six times seven?", reasoning={"effort": "low"}, max_output_tokens=2000
    )
    kinds = [item.type for item in response.output]
    assert "reasoning" in kinds and response.output_text == "42"
    reasoning = next(item for item in response.output if item.type == "reasoning")
    texts = [part.text for part in (reasoning.summary or [])] + [
        part.text for part in (reasoning.content or [])
    ]
    assert any("six times seven" in t for t in texts)
    sent = fake_anthropic.last.json
    assert sent.get("thinking", {}).get("type") in ("enabled", "adaptive")  # effort mapped onto thinking
