"""The official openai SDK (sync and async) against cerebra over real HTTP, with fake upstreams."""

from __future__ import annotations

import json

import openai
import pytest

from tests.cerebra.conftest import ANTHROPIC_KEY, OPENAI_KEY, deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows


def client(server, key: str, **kw) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, **kw)


async def test_plain_chat_through_openai_upstream(gateway, fake_openai, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    fake_openai.enqueue(Reply(text="Hi there", usage=(1000, 2000)))
    raw = client(server, cerebra_key).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hello"}], extra_headers={"X-Team-ID": "t1"}
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hi there"
    assert completion.usage.prompt_tokens == 1000
    assert raw.headers["x-oco-provider"] == "openai"
    assert raw.headers["x-oco-model"] == "gpt-4o-mini"
    assert raw.headers["x-oco-attempts"] == "1"
    assert float(raw.headers["x-oco-overhead-ms"]) >= 0
    assert raw.headers["x-request-id"]
    sent = fake_openai.last
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert cerebra_key not in str(sent.headers) and cerebra_key not in sent.body.decode()
    server.stop()  # flushes the request log
    rows = [
        r
        for r in await table_rows(database, "api_requests")
        if r["request_id"] == raw.headers["x-request-id"]
    ]
    assert len(rows) == 1
    row = rows[0]
    assert row["team_id"] == "t1" and row["provider"] == "openai" and row["status_code"] == 200
    # gpt-4o-mini: 0.15 USD / 1M input, 0.60 / 1M output
    assert str(row["cost_usd"]) in {"0.001350", "0.00135"}


async def test_stream_usage_is_requested_and_stripped(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    fake_openai.enqueue(Reply(text="one two three"))
    chunks = list(
        client(server, cerebra_key).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "count"}], stream=True
        )
    )
    assert fake_openai.last.json["stream_options"] == {"include_usage": True}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage

    fake_openai.enqueue(Reply(text="one two", usage=(5, 2)))
    chunks = list(
        client(server, cerebra_key).chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


async def test_async_client_streams_from_anthropic(gateway, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"claude": {"deployments": [deployment(fake_anthropic, "claude-3-5-haiku-latest")]}})
    fake_anthropic.enqueue(Reply(text="streamed from claude", usage=(20, 4)))
    aclient = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=cerebra_key, max_retries=0)
    stream = await aclient.chat.completions.create(
        model="claude",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    await aclient.close()
    assert text == "streamed from claude"
    assert usage is not None and usage.prompt_tokens == 20 and usage.completion_tokens == 4
    sent = fake_anthropic.last
    assert sent.json["system"] == "be brief"
    assert sent.json["max_tokens"] == 4096
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY


async def test_tool_round_trip_through_anthropic(gateway, fake_anthropic, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"claude": {"deployments": [deployment(fake_anthropic, "claude-3-5-haiku-latest")]}})
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    fake_anthropic.enqueue(Reply(tool_calls=[("get_weather", {"city": "Paris"})]))
    sdk = client(server, cerebra_key)
    messages = [{"role": "user", "content": "weather in Paris?"}]
    first = sdk.chat.completions.create(model="claude", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert fake_anthropic.last.json["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string"

    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    fake_anthropic.enqueue(Reply(text="It is 18C and sunny."))
    second = sdk.chat.completions.create(model="claude", messages=messages, tools=tools)
    assert second.choices[0].message.content == "It is 18C and sunny."
    sent = fake_anthropic.last.json["messages"]
    tool_use = [block for block in sent[1]["content"] if block["type"] == "tool_use"]
    assert tool_use == [
        {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert sent[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": call.id,
        "content": "18C and sunny",
    }


async def test_json_mode_and_embeddings_through_gemini(gateway, fake_gemini, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "gem": {"deployments": [deployment(fake_gemini, "gemini-2.0-flash")]},
            "embed": {"deployments": [deployment(fake_gemini, "text-embedding-004")]},
        }
    )
    fake_gemini.enqueue(Reply(text='{"ok": true}'))
    sdk = client(server, cerebra_key)
    answer = sdk.chat.completions.create(
        model="gem",
        response_format={"type": "json_object"},
        messages=[{"role": "system", "content": "json only"}, {"role": "user", "content": "status?"}],
    )
    assert json.loads(answer.choices[0].message.content) == {"ok": True}
    sent = fake_gemini.last.json
    assert sent["generationConfig"]["responseMimeType"] == "application/json"
    assert sent["systemInstruction"]["parts"][0]["text"] == "json only"
    vectors = sdk.embeddings.create(model="embed", input=["a", "b"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) > 0
    assert fake_gemini.last.path.endswith(":batchEmbedContents")


async def test_errors_map_to_sdk_exceptions(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {"chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}}, oco_cerebra_max_body_bytes=2000
    )
    with pytest.raises(openai.AuthenticationError):
        client(server, "oco_wrong").chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.NotFoundError) as not_found:
        client(server, cerebra_key).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "x"}]
        )
    assert not_found.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as bad:
        client(server, cerebra_key).chat.completions.create(model="chat", messages=[])
    assert bad.value.body["param"] == "messages"
    with pytest.raises(openai.APIStatusError) as too_big:
        client(server, cerebra_key).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x" * 5000}]
        )
    assert too_big.value.status_code == 413
    fake_openai.enqueue(Reply(status=500), Reply(status=500))
    with pytest.raises(openai.InternalServerError) as failed:
        client(server, cerebra_key).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x"}]
        )
    assert failed.value.status_code == 502
    assert len(failed.value.body["attempts"]) == 2
    assert OPENAI_KEY not in str(failed.value.body)
    models = client(server, cerebra_key).models.list()
    assert {m.id for m in models.data} == {"chat", "auto"}
    assert client(server, cerebra_key).models.retrieve("chat").id == "chat"


async def test_upstream_breaking_mid_stream_ends_with_an_error_event(
    gateway, fake_openai, fake_anthropic, cerebra_key
) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]},
            "claude": {"deployments": [deployment(fake_anthropic, "claude-3-5-haiku-latest")]},
        }
    )
    fake_openai.enqueue(Reply(text="one two three four five", drop_after_events=3))
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client(server, cerebra_key).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            received.append(chunk)
    assert received  # the first chunks reached the client before the error
    assert fake_openai.count == 1  # no retry once bytes reached the client

    fake_anthropic.enqueue(Reply(text="partial answer", stream_error="Overloaded"))
    with pytest.raises(openai.APIError, match="Overloaded"):
        for _ in client(server, cerebra_key).chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass


async def test_gemini_stream_with_tool_call(gateway, fake_gemini, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"gem": {"deployments": [deployment(fake_gemini, "gemini-2.0-flash")]}})
    fake_gemini.enqueue(Reply(tool_calls=[("lookup", {"q": "oco"})], usage=(30, 5)))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
    ]
    chunks = list(
        client(server, cerebra_key).chat.completions.create(
            model="gem",
            messages=[{"role": "user", "content": "search"}],
            tools=tools,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "lookup"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"q": "oco"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "tool_calls"
    ]
    assert chunks[-1].usage.prompt_tokens == 30
    assert fake_gemini.last.path.endswith(":streamGenerateContent")
    assert fake_gemini.last.query.get("alt") == "sse"
    assert fake_gemini.last.json["tools"][0]["functionDeclarations"][0]["name"] == "lookup"
