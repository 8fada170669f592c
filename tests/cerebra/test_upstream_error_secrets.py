"""A provider error that echoes the gateway's own provider key never hands it to the caller, even when the
key has no well-known shape (an Azure-style hex key): not in a passed-through 4xx (chat, embeddings,
native), not in the attempts of a 502."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.cerebra.fakes.upstreams import FakeOpenAI
from tests.cerebra.fakes.wire import Reply

PLAIN_KEY = "3f9c2e7d1b4a6c8e0f1a2b3c4d5e6f70"  # no sk-/AIza prefix: only the literal key can be matched
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fake(monkeypatch) -> FakeOpenAI:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PLAIN_PROVIDER_KEY", PLAIN_KEY)
    with FakeOpenAI(api_key=PLAIN_KEY) as upstream:
        yield upstream


async def test_an_echoed_provider_key_is_redacted_from_every_error(gateway, fake, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    target = {
        "provider": "openai",
        "api_base": fake.base_url,
        "api_key_env": "PLAIN_PROVIDER_KEY",
        "timeout_s": 5,
    }
    server = gateway(
        {"chat": {"deployments": [{**target, "model": "gpt-4o-mini"}]}},
        providers={"openai": {"api_base": fake.base_url, "api_key_env": "PLAIN_PROVIDER_KEY"}},
        oco_cerebra_retries=0,
    )
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    echo = f"deployment not found for api-key {PLAIN_KEY}"

    fake.enqueue(Reply(status=404, error_message=echo))
    with pytest.raises(openai.NotFoundError) as passed:
        sdk.chat.completions.create(model="chat", messages=HELLO)
    assert "deployment not found" in passed.value.message and PLAIN_KEY not in str(passed.value.body)

    fake.enqueue(Reply(status=500, error_message=echo))
    with pytest.raises(openai.APIStatusError) as failed:
        sdk.chat.completions.create(model="chat", messages=HELLO)
    assert failed.value.status_code == 502 and PLAIN_KEY not in failed.value.response.text

    fake.enqueue(Reply(status=404, error_message=echo))
    async with httpx.AsyncClient(base_url=server.url) as http:
        native = await http.post(
            "/v1/openai/chat/completions",
            json={"model": "gpt-4o-mini", "messages": HELLO},
            headers={"X-API-Key": cerebra_key},
        )
    assert native.status_code == 404 and "deployment not found" in native.text
    assert PLAIN_KEY not in native.text
