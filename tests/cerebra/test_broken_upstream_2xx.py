"""Hardening (issue #16, finding 6): an upstream 2xx that is broken (204 or an empty body; `stream: true`
answered with plain JSON; an event stream with no event) is never relayed as success: the next deployment
is tried, the caller gets a 502 in the error shape before the first byte (or an SSE error event once the
stream has started), and the broken answer counts against the deployment (cooldown)."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply

HELLO = [{"role": "user", "content": "hi"}]
JSON_ANSWER = orjson.dumps({"id": "x", "object": "chat.completion", "choices": []})
BROKEN_PLAIN = [
    Reply(raw=(204, "application/json", b"")),
    Reply(raw=(200, "application/json", b"")),
]
BROKEN_STREAM = [
    Reply(raw=(200, "application/json", JSON_ANSWER)),
    Reply(raw=(204, "text/event-stream", b"")),
]


def client(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def _one(fake) -> dict:  # type: ignore[no-untyped-def]
    return {"chat": {"deployments": [deployment(fake, "gpt-4o-mini")]}}


@pytest.mark.parametrize(
    "reply", BROKEN_PLAIN + BROKEN_STREAM, ids=["204", "empty", "json-to-stream", "204-stream"]
)
async def test_broken_2xx_is_a_502_before_the_first_byte(gateway, fake_openai, cerebra_key, reply) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_one(fake_openai), oco_cerebra_retries=0)
    stream = reply in BROKEN_STREAM
    fake_openai.enqueue(reply)
    response = httpx.post(
        server.url + "/v1/chat/completions",
        json={"model": "chat", "messages": HELLO, "stream": stream},
        headers={"Authorization": f"Bearer {cerebra_key}"},
    )
    assert response.status_code == 502, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error) and error["code"] == "all_deployments_failed"
    assert error["attempts"][0]["outcome"] == "bad_response", error
    assert "data: [DONE]" not in response.text


async def test_the_sdk_sees_an_error_not_an_empty_success(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_one(fake_openai), oco_cerebra_retries=0)
    sdk = client(server, cerebra_key)
    fake_openai.enqueue(Reply(raw=(204, "application/json", b"")))
    with pytest.raises(openai.APIStatusError) as plain:
        sdk.chat.completions.create(model="chat", messages=HELLO)
    assert plain.value.status_code == 502
    fake_openai.enqueue(Reply(raw=(200, "application/json", JSON_ANSWER)))
    with pytest.raises(openai.APIStatusError) as streamed:
        list(sdk.chat.completions.create(model="chat", messages=HELLO, stream=True))
    assert streamed.value.status_code == 502


async def test_a_broken_2xx_falls_back_to_the_next_deployment(
    gateway, fake_openai, fake_anthropic, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    models = {
        "chat": {
            "deployments": [
                deployment(fake_openai, "gpt-4o-mini"),
                {**deployment(fake_anthropic, "claude-3-5-haiku-latest"), "priority": 1},
            ]
        }
    }
    server = gateway(models, oco_cerebra_retries=0)
    sdk = client(server, cerebra_key)
    fake_openai.enqueue(Reply(raw=(204, "application/json", b"")))
    raw = sdk.chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    assert raw.headers["x-oco-provider"] == "anthropic" and raw.parse().choices[0].message.content
    fake_openai.enqueue(Reply(raw=(200, "application/json", JSON_ANSWER)))
    chunks = list(sdk.chat.completions.create(model="chat", messages=HELLO, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def test_broken_answers_cool_the_deployment_down(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_one(fake_openai), oco_cerebra_retries=0, oco_cerebra_cooldown_failures=2)
    sdk = client(server, cerebra_key)
    for reply in (
        Reply(raw=(204, "application/json", b"")),
        Reply(raw=(200, "application/json", JSON_ANSWER)),
    ):
        fake_openai.enqueue(reply)
        with pytest.raises(openai.APIStatusError):
            list(sdk.chat.completions.create(model="chat", messages=HELLO, stream=reply.raw[0] == 200))
    calls = fake_openai.count
    with pytest.raises(openai.APIStatusError) as cooled:
        sdk.chat.completions.create(model="chat", messages=HELLO)
    assert cooled.value.status_code == 503  # every deployment is cooling down
    assert fake_openai.count == calls  # not even tried


async def test_an_event_stream_without_events_ends_in_an_sse_error(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_one(fake_openai), oco_cerebra_retries=0, oco_cerebra_cooldown_failures=1)
    fake_openai.enqueue(Reply(raw=(200, "text/event-stream", b": nothing to see\n\n")))
    with pytest.raises(openai.APIError, match="without any event|before a finish_reason"):
        list(client(server, cerebra_key).chat.completions.create(model="chat", messages=HELLO, stream=True))
    with pytest.raises(openai.APIStatusError) as cooled:  # it counted against the deployment
        client(server, cerebra_key).chat.completions.create(model="chat", messages=HELLO)
    assert cooled.value.status_code == 503


async def test_native_stream_answered_with_json_is_a_502(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(_one(fake_openai), oco_cerebra_retries=0)
    fake_openai.enqueue(Reply(raw=(200, "application/json", JSON_ANSWER)))
    response = httpx.post(
        server.url + "/v1/openai/chat/completions",
        json={"model": "chat", "messages": HELLO, "stream": True},
        headers={"Authorization": f"Bearer {cerebra_key}"},
    )
    assert response.status_code == 502, response.text
    assert response.json()["error"]["attempts"][0]["outcome"] == "bad_response"
