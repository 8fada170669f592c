"""Routing over real HTTP: fallback on 500, 429 + Retry-After, timeouts and refused connections;
cooldown and recovery; the auto strategy; client disconnects; native pass-through with the anthropic SDK."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest

from tests.cerebra.conftest import ANTHROPIC_KEY, deployment, free_port
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows

HELLO = [{"role": "user", "content": "hello"}]


def sdk(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def two_deployments(fake_openai, fake_anthropic, **primary) -> dict:  # type: ignore[no-untyped-def]
    return {
        "chat": {
            "strategy": "priority",
            "deployments": [
                deployment(fake_openai, "gpt-4o-mini", **primary),
                deployment(fake_anthropic, "claude-3-5-haiku-latest"),
            ],
        }
    }


async def test_fallback_after_retried_500s(gateway, fake_openai, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(two_deployments(fake_openai, fake_anthropic))
    fake_openai.enqueue(Reply(status=500), Reply(status=503))
    fake_anthropic.enqueue(Reply(text="from claude"))
    raw = sdk(server, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert raw.parse().choices[0].message.content == "from claude"
    assert raw.headers["x-oco-provider"] == "anthropic"
    assert raw.headers["x-oco-attempts"] == "3"  # two tries on openai (one retry), one on anthropic
    assert fake_openai.count == 2


async def test_429_retry_after_is_honoured_then_falls_back(
    gateway, fake_openai, fake_anthropic, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(two_deployments(fake_openai, fake_anthropic), oco_cerebra_max_retry_wait_s=2)
    fake_openai.enqueue(Reply(status=429, retry_after="0.3"), Reply(text="after waiting"))
    started = time.monotonic()
    raw = sdk(server, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert time.monotonic() - started >= 0.3
    assert raw.parse().choices[0].message.content == "after waiting"
    assert raw.headers["x-oco-provider"] == "openai" and raw.headers["x-oco-attempts"] == "2"

    # a Retry-After longer than we may wait: go to the next deployment now and cool this one down
    fake_openai.enqueue(Reply(status=429, retry_after="60"))
    fake_anthropic.enqueue(Reply(text="claude 1"), Reply(text="claude 2"))
    first = sdk(server, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert first.headers["x-oco-provider"] == "anthropic"
    before = fake_openai.count
    second = sdk(server, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert second.headers["x-oco-provider"] == "anthropic"
    assert fake_openai.count == before  # skipped while cooling down


async def test_timeout_and_refused_connection_fall_back(
    gateway, fake_openai, fake_anthropic, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(two_deployments(fake_openai, fake_anthropic, timeout_s=0.5), oco_cerebra_retries=0)
    fake_openai.enqueue(Reply(hang=True))
    fake_anthropic.enqueue(Reply(text="rescued"))
    answer = sdk(server, cerebra_key).chat.completions.create(model="chat", messages=HELLO)
    assert answer.choices[0].message.content == "rescued"

    closed = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "api_base": f"http://127.0.0.1:{free_port()}/v1",
        "api_key_env": "TEST_OPENAI_KEY",
    }
    server2 = gateway(
        {"chat": {"deployments": [closed, deployment(fake_anthropic, "claude-3-5-haiku-latest")]}}
    )
    fake_anthropic.enqueue(Reply(text="also rescued"))
    raw = sdk(server2, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert raw.parse().choices[0].message.content == "also rescued"
    assert raw.headers["x-oco-attempts"] == "3"


async def test_every_deployment_timing_out_is_a_504(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini", timeout_s=0.3)]}},
        oco_cerebra_retries=0,
    )
    fake_openai.enqueue(Reply(hang=True))
    with pytest.raises(openai.APIStatusError) as failure:
        sdk(server, cerebra_key).chat.completions.create(model="chat", messages=HELLO)
    assert failure.value.status_code == 504
    assert failure.value.body["code"] == "upstream_timeout"


async def test_cooldown_after_repeated_failures_and_recovery(
    gateway, fake_openai, fake_anthropic, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        two_deployments(fake_openai, fake_anthropic),
        oco_cerebra_retries=0,
        oco_cerebra_cooldown_failures=2,
        oco_cerebra_cooldown_s=1.0,
    )
    fake_openai.enqueue(Reply(status=500), Reply(status=500))
    for _ in range(2):
        raw = sdk(server, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
        assert raw.headers["x-oco-provider"] == "anthropic"
    assert fake_openai.count == 2
    raw = sdk(server, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert raw.headers["x-oco-provider"] == "anthropic" and raw.headers["x-oco-attempts"] == "1"
    assert fake_openai.count == 2  # tripped: not even tried
    time.sleep(1.2)
    raw = sdk(server, cerebra_key).chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert raw.headers["x-oco-provider"] == "openai"  # recovered after the cooldown
    assert fake_openai.count == 3


async def test_auto_picks_the_cheapest_capable_deployment(
    gateway, fake_openai, fake_anthropic, fake_gemini, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "fast": {
                "deployments": [
                    deployment(
                        fake_gemini,
                        "gemini-2.0-flash",
                        supports_tools=False,
                        supports_vision=False,
                        context_window=1000,
                    )
                ]
            },
            "mini": {"deployments": [deployment(fake_openai, "gpt-4o-mini", supports_vision=False)]},
            "smart": {"deployments": [deployment(fake_anthropic, "claude-3-5-sonnet-latest")]},
        }
    )
    client = sdk(server, cerebra_key)
    assert (
        client.chat.completions.with_raw_response.create(model="auto", messages=HELLO).headers[
            "x-oco-provider"
        ]
        == "gemini"
    )
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    ]
    assert (
        client.chat.completions.with_raw_response.create(model="auto", messages=HELLO, tools=tools).headers[
            "x-oco-provider"
        ]
        == "openai"
    )
    long = [{"role": "user", "content": "word " * 2000}]  # ~2,500 tokens: past the 1,000-token deployment
    assert (
        client.chat.completions.with_raw_response.create(model="auto", messages=long).headers[
            "x-oco-provider"
        ]
        == "openai"
    )
    image = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            ],
        }
    ]
    assert (
        client.chat.completions.with_raw_response.create(model="auto", messages=image).headers[
            "x-oco-provider"
        ]
        == "anthropic"
    )


async def test_client_disconnect_cancels_the_upstream_stream(
    gateway, fake_openai, cerebra_key, database
) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    fake_openai.enqueue(Reply(stream_events=200, pace_s=0.02))
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "POST",
            server.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {cerebra_key}"},
            json={"model": "chat", "messages": HELLO, "stream": True},
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        for received, _ in enumerate(response.iter_bytes(), start=1):
            if received >= 3:
                break
    time.sleep(0.5)
    assert fake_openai.disconnects == 1  # cerebra closed the upstream stream when the client left
    server.stop()
    rows = [r for r in await table_rows(database, "api_requests") if r["request_id"] == request_id]
    assert rows and rows[0]["status_code"] == 499
    assert rows[0]["error"] == "client disconnected mid-stream"


async def test_native_anthropic_sdk_pass_through(gateway, fake_anthropic, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {"claude": {"deployments": [deployment(fake_anthropic, "claude-3-5-haiku-latest")]}},
        providers={"anthropic": {"api_base": fake_anthropic.url, "api_key_env": "TEST_ANTHROPIC_KEY"}},
    )
    client = anthropic.Anthropic(base_url=server.url + "/v1/anthropic", api_key=cerebra_key, max_retries=0)
    fake_anthropic.enqueue(Reply(text="native hello", usage=(12, 3)))
    message = client.messages.create(model="claude", max_tokens=50, messages=HELLO)
    assert message.content[0].text == "native hello"
    sent = fake_anthropic.last
    assert sent.json["model"] == "claude-3-5-haiku-latest"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert cerebra_key not in str(sent.headers)

    fake_anthropic.enqueue(Reply(text="streamed natively", usage=(8, 2)))
    with client.messages.stream(model="claude-3-haiku-20240307", max_tokens=50, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
    assert text == "streamed natively"
    assert (
        fake_anthropic.last.json["model"] == "claude-3-haiku-20240307"
    )  # a provider model name, not an alias

    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(
            base_url=server.url + "/v1/anthropic", api_key="oco_nope", max_retries=0
        ).messages.create(model="claude", max_tokens=5, messages=HELLO)
    server.stop()
    rows = [r for r in await table_rows(database, "api_requests") if r["endpoint"] == "native:anthropic"]
    assert {(r["prompt_tokens"], r["completion_tokens"]) for r in rows} >= {(12, 3), (8, 2)}


async def test_key_bound_to_a_team_cannot_claim_another(gateway, fake_openai, keystore, unique) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    key = (await keystore.create(unique("team-key"), ["cerebra"], team="search")).plaintext
    with pytest.raises(openai.PermissionDeniedError):
        sdk(server, key).chat.completions.create(
            model="chat", messages=HELLO, extra_headers={"X-Team-ID": "ads"}
        )
    ok = sdk(server, key).chat.completions.create(
        model="chat", messages=HELLO, extra_headers={"X-Team-ID": "search"}
    )
    assert ok.choices[0].message.content
    economist_only = (await keystore.create(unique("eco"), ["economist"])).plaintext
    with pytest.raises(openai.PermissionDeniedError):
        sdk(server, economist_only).chat.completions.create(model="chat", messages=HELLO)
