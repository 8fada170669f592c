"""How a provider's 4xx reaches the caller of /v1/chat/completions and /v1/embeddings: the caller's own
errors (404, 409, 422, ...) pass through with their status and message, without fallback or cooldown;
401/403 about the gateway's provider key are the operator's problem: 502 with a clear reason."""

from __future__ import annotations

import openai
import pytest

from tests.cerebra.conftest import OPENAI_KEY, deployment
from tests.cerebra.fakes.wire import Reply

HELLO = [{"role": "user", "content": "hi"}]


def client(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


@pytest.mark.parametrize("status", [404, 409, 422])
async def test_provider_4xx_reaches_the_caller_without_fallback(
    gateway, fake_openai, fake_anthropic, cerebra_key, status
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "chat": {
                "deployments": [
                    deployment(fake_openai, "gpt-4o-mini"),
                    {**deployment(fake_anthropic, "claude-3-5-haiku-latest"), "priority": 1},
                ]
            }
        }
    )
    fake_openai.enqueue(Reply(status=status, error_message="The model `gpt-4o-mini` does not exist"))
    with pytest.raises(openai.APIStatusError) as failed:
        client(server, cerebra_key).chat.completions.create(model="chat", messages=HELLO)
    assert failed.value.status_code == status
    assert "does not exist" in failed.value.message
    assert failed.value.body["code"] == "upstream_rejected_request"
    assert failed.value.response.headers["x-oco-provider"] == "openai"
    assert fake_anthropic.count == 0  # the caller's error is not retried elsewhere


async def test_provider_404_on_streams_and_embeddings(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    sdk = client(server, cerebra_key)
    fake_openai.enqueue(Reply(status=404, error_message="The model `gpt-4o-mini` does not exist"))
    with pytest.raises(openai.NotFoundError) as streamed:
        list(sdk.chat.completions.create(model="chat", messages=HELLO, stream=True))
    assert "does not exist" in streamed.value.message
    fake_openai.enqueue(Reply(status=404, error_message="The model `embedder` does not exist"))
    with pytest.raises(openai.NotFoundError) as embedded:
        sdk.embeddings.create(model="chat", input="x")
    assert "does not exist" in embedded.value.message


async def test_provider_404_does_not_cool_the_deployment_down(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}}, oco_cerebra_cooldown_failures=2
    )
    sdk = client(server, cerebra_key)
    for _ in range(3):
        fake_openai.enqueue(Reply(status=404, error_message="no such model"))
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model="chat", messages=HELLO)
    assert sdk.chat.completions.create(model="chat", messages=HELLO).choices[0].message.content
    assert fake_openai.count == 4


@pytest.mark.parametrize("status", [401, 403])
async def test_provider_refusing_the_gateway_key_is_a_502_for_the_operator(
    gateway, fake_openai, cerebra_key, status
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    fake_openai.enqueue(Reply(status=status, error_message=f"Incorrect API key provided: {OPENAI_KEY}"))
    with pytest.raises(openai.APIStatusError) as failed:
        client(server, cerebra_key).chat.completions.create(model="chat", messages=HELLO)
    assert failed.value.status_code == 502
    assert "refused the gateway's credentials" in failed.value.message
    assert "TEST_OPENAI_KEY" in failed.value.message  # the variable to fix, never its value
    attempt = failed.value.body["attempts"][0]
    assert attempt["outcome"] == f"http_{status}" and "TEST_OPENAI_KEY" in attempt["reason"]
    assert OPENAI_KEY not in str(failed.value.body)


async def test_a_refused_key_falls_back_to_the_next_deployment(
    gateway, fake_openai, fake_anthropic, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "chat": {
                "deployments": [
                    deployment(fake_openai, "gpt-4o-mini"),
                    {**deployment(fake_anthropic, "claude-3-5-haiku-latest"), "priority": 1},
                ]
            }
        }
    )
    fake_openai.enqueue(Reply(status=401, error_message="Incorrect API key provided"))
    fake_anthropic.enqueue(Reply(text="from claude"))
    raw = client(server, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert raw.parse().choices[0].message.content == "from claude"
    assert raw.headers["x-oco-provider"] == "anthropic"
