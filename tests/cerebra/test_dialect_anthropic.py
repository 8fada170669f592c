"""The Anthropic Messages dialect translated to other providers: the official `anthropic` SDK against
cerebra's /v1/messages, with OpenAI- and Gemini-backed aliases (fake upstreams on loopback)."""

from __future__ import annotations

import asyncio
import base64

import anthropic
import pytest

from tests.cerebra.conftest import deployment
from tests.cerebra.fakes.wire import Reply
from tests.conftest import table_rows

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(server, key: str, **kw) -> anthropic.Anthropic:  # type: ignore[no-untyped-def]
    return anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0, **kw)


@pytest.fixture(params=["openai", "gemini"])
def backend(request, fake_openai, fake_gemini, gateway):  # type: ignore[no-untyped-def]
    """(server, fake) for an alias `m` served by the OpenAI or the Gemini fake."""
    fake = {"openai": fake_openai, "gemini": fake_gemini}[request.param]
    model = "gpt-4o-mini" if fake is fake_openai else "gemini-2.5-flash"
    server = gateway({"m": {"deployments": [deployment(fake, model)]}})
    return server, fake


def _sent_text(fake) -> str:  # type: ignore[no-untyped-def]
    """Every text the fake upstream received, in its own wire format."""
    return str(fake.last.json)


async def test_text_system_stop_sequences_and_usage(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    fake.enqueue(Reply(text="one two STOP three", usage=(40, 6)))
    raw = client(server, cerebra_key).messages.with_raw_response.create(
        model="m",
        max_tokens=300,
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "count"}],
        stop_sequences=["STOP"],
        metadata={"user_id": "u-42"},
        extra_body={"temperature": 0.5, "top_k": 20},  # older SDKs and Claude Code still send them
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "one two "  # the provider stopped at the stop sequence
    # OpenAI and Gemini do not say whether a stop sequence or a natural end stopped them
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 40 and message.usage.output_tokens == 6
    assert message.usage.cache_read_input_tokens == 0
    sent = fake.last.json
    dropped = raw.headers["x-oco-dropped"]
    assert "cache_control" in dropped
    if fake.provider == "openai":
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}
        assert sent["stop"] == ["STOP"] and sent["max_completion_tokens"] == 300
        assert sent["user"] == "u-42" and sent["temperature"] == 0.5
        assert "top_k" not in sent and "top_k" in dropped  # OpenAI has no top_k
    else:
        assert sent["systemInstruction"] == {"parts": [{"text": "be brief"}]}
        config = sent["generationConfig"]
        assert config["stopSequences"] == ["STOP"] and config["maxOutputTokens"] == 300
        assert config["topK"] == 20 and config["temperature"] == 0.5
        assert "top_k" not in dropped


async def test_stop_sequence_named_by_the_upstream(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    """vLLM-style OpenAI-compatible servers name the matched stop string: reported as stop_sequence."""
    server = gateway({"m": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "one two "},
                "finish_reason": "stop",
                "stop_reason": "STOP",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    fake_openai.enqueue(Reply(json_body=body))
    message = client(server, cerebra_key).messages.create(
        model="m", max_tokens=50, messages=[{"role": "user", "content": "x"}], stop_sequences=["STOP"]
    )
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "STOP"


async def test_max_tokens_stop_reason(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    fake.enqueue(Reply(text="cut", finish="length" if fake.provider == "openai" else "MAX_TOKENS"))
    message = client(server, cerebra_key).messages.create(
        model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}]
    )
    assert message.stop_reason == "max_tokens"


async def test_tool_use_then_tool_result(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    sdk = client(server, cerebra_key)
    fake.enqueue(Reply(tool_calls=[("get_weather", {"city": "Paris"})]))
    messages: list = [{"role": "user", "content": "weather in Paris?"}]
    first = sdk.messages.create(
        model="m",
        max_tokens=100,
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    assert first.stop_reason == "tool_use"
    use = first.content[-1]
    assert use.type == "tool_use" and use.name == "get_weather" and use.input == {"city": "Paris"}
    sent = fake.last.json
    if fake.provider == "openai":
        assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["input_schema"]
        assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    else:
        assert sent["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
        assert sent["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "city not found", "is_error": True},
                {"type": "text", "text": "try again"},
            ],
        },
    ]
    fake.enqueue(Reply(text="Sorry, no data."))
    second = sdk.messages.create(
        model="m",
        max_tokens=100,
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert second.content[0].text == "Sorry, no data." and second.stop_reason == "end_turn"
    sent = fake.last.json
    if fake.provider == "openai":
        roles = [m["role"] for m in sent["messages"]]
        assert roles == ["user", "assistant", "tool", "user"]
        assert sent["messages"][1]["tool_calls"][0]["id"] == use.id
        assert sent["messages"][2] == {
            "role": "tool",
            "tool_call_id": use.id,
            "content": "[tool error] city not found",
        }
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    else:
        parts = sent["contents"][2]["parts"]
        assert parts[0]["functionResponse"]["name"] == "get_weather"
        assert parts[0]["functionResponse"]["response"] == {"content": "[tool error] city not found"}
        assert parts[1] == {"text": "try again"}
        assert sent["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] == ["get_weather"]


async def test_tool_choice_none_and_auto(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    sdk = client(server, cerebra_key)
    for choice, expected in (({"type": "none"}, "none"), ({"type": "auto"}, "auto")):
        sdk.messages.create(
            model="m",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            tools=[WEATHER_TOOL],
            tool_choice=choice,  # type: ignore[arg-type]
        )
        assert fake_openai.last.json["tool_choice"] == expected


async def test_images_base64_and_url(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    client(server, cerebra_key).messages.create(
        model="m",
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                    {"type": "text", "text": "what is this?"},
                ],
            }
        ],
    )
    sent = fake.last.json
    if fake.provider == "openai":
        parts = sent["messages"][0]["content"]
        assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
        assert parts[1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
        assert parts[2] == {"type": "text", "text": "what is this?"}
    else:
        parts = sent["contents"][0]["parts"]
        assert parts[0] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
        assert parts[1] == {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}


async def test_thinking_maps_and_comes_back_as_thinking_blocks(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    sdk = client(server, cerebra_key)
    fake.enqueue(Reply(text="42", reasoning="six times seven", usage=(30, 20), reasoning_tokens=12))
    message = sdk.messages.create(
        model="m",
        max_tokens=8000,
        thinking={"type": "enabled", "budget_tokens": 5000},
        messages=[{"role": "user", "content": "6*7?"}],
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "six times seven" and message.content[1].text == "42"
    assert message.usage.output_tokens == 20
    sent = fake.last.json
    if fake.provider == "openai":
        assert sent["reasoning_effort"] == "medium" and "thinking" not in sent  # budget 5000 -> medium
    else:
        assert sent["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 5000, "includeThoughts": True}

    # the next turn sends the thinking block back (with its signature): dropped here, never a 400
    fake.enqueue(Reply(text="yes"))
    history = [
        {"role": "user", "content": "6*7?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "six times seven", "signature": "c2lnbmF0dXJl"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "42"},
            ],
        },
        {"role": "user", "content": "sure?"},
    ]
    raw = sdk.messages.with_raw_response.create(model="m", max_tokens=100, messages=history)
    assert raw.parse().content[0].text == "yes"
    assert "thinking blocks" in raw.headers["x-oco-dropped"]
    assert "signature" not in str(fake.last.json) and "six times seven" not in str(fake.last.json)


async def test_stream_text_with_thinking_and_usage(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    fake.enqueue(Reply(text="streamed answer here", reasoning="let me think", usage=(25, 9)))
    events = []
    with client(server, cerebra_key).messages.stream(
        model="m",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "go"}],
    ) as stream:
        for ev in stream:
            events.append(ev)
        final = stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert "thinking_delta" in deltas and "text_delta" in deltas
    assert deltas.index("thinking_delta") < deltas.index("text_delta")
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking.strip() == "let me think"
    assert final.content[1].text == "streamed answer here"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 25 and final.usage.output_tokens == 9


async def test_stream_tool_use(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    fake.enqueue(Reply(tool_calls=[("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})]))
    with client(server, cerebra_key).messages.stream(
        model="m", max_tokens=100, tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "weather"}]
    ) as stream:
        kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "input_json_delta" in kinds
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.input for u in uses] == [{"city": "Oslo"}, {"city": "Rome"}]
    assert final.stop_reason == "tool_use"


async def test_stream_relays_before_the_upstream_finishes(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    fake.enqueue(Reply(text="a b c d e f", pace_s=0.25))
    seen_while_streaming = None
    with client(server, cerebra_key).messages.stream(
        model="m", max_tokens=50, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        for ev in stream:
            if ev.type == "content_block_delta" and seen_while_streaming is None:
                seen_while_streaming = fake.streams_done
        final = stream.get_final_message()
    assert seen_while_streaming == 0  # the first delta arrived before the upstream sent its last event
    for _ in range(
        100
    ):  # the fake counts a stream done after its last write returns: it may trail the client
        if fake.streams_done:
            break
        await asyncio.sleep(0.02)
    assert fake.streams_done == 1
    assert final.content[0].text == "a b c d e f"


async def test_stream_upstream_error_becomes_an_error_event(backend, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server, fake = backend
    fake.enqueue(Reply(text="a b c", stream_error="the model is overloaded"))
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded"),
        client(server, cerebra_key).messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "go"}]
        ) as stream,
    ):
        for _ in stream:
            pass


async def test_translated_calls_are_priced_and_logged(gateway, fake_openai, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    sdk = client(server, cerebra_key)
    fake_openai.enqueue(Reply(text="hi", usage=(1000, 2000)), Reply(text="hi again", usage=(1000, 2000)))
    raw = sdk.messages.with_raw_response.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    )
    with sdk.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as s:
        s.until_done()
        stream_id = s.response.headers["x-request-id"]
    assert fake_openai.last.json["stream_options"] == {"include_usage": True}
    server.stop()
    rows = {r["request_id"]: r for r in await table_rows(database, "api_requests")}
    for request_id, streamed in ((raw.headers["x-request-id"], False), (stream_id, True)):
        row = rows[request_id]
        assert row["endpoint"] == "messages" and row["alias"] == "m" and row["provider"] == "openai"
        assert bool(row["stream"]) is streamed and row["status_code"] == 200
        assert row["prompt_tokens"] == 1000 and row["completion_tokens"] == 2000
        assert str(row["cost_usd"]) in {"0.001350", "0.00135"}  # gpt-4o-mini: 0.15 in, 0.60 out per 1M


async def test_errors_in_anthropic_shape(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    with pytest.raises(anthropic.AuthenticationError) as auth:
        client(server, "oco_wrong_key_0123456789abcdef").messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert auth.value.body["type"] == "error"  # type: ignore[index]
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    sdk = client(server, cerebra_key)
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk.messages.create(model="nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError, match="only by Anthropic"):
        sdk.messages.create(
            model="m",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        sdk.messages.create(model="m", max_tokens=0, messages=[{"role": "user", "content": "x"}])
    fake_openai.enqueue(Reply(status=400, error_message="context length exceeded"))
    with pytest.raises(anthropic.BadRequestError, match="context length exceeded") as upstream:
        sdk.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert upstream.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


async def test_bearer_key_and_count_tokens_estimate(gateway, fake_gemini, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_gemini, "gemini-2.5-flash")]}})
    sdk = anthropic.Anthropic(base_url=server.url, auth_token=cerebra_key, max_retries=0)
    raw = sdk.messages.with_raw_response.count_tokens(
        model="m", system="x" * 400, messages=[{"role": "user", "content": "y" * 400}]
    )
    assert raw.headers["x-oco-token-count"] == "estimate"
    assert 200 <= raw.parse().input_tokens <= 220
    assert fake_gemini.count == 0  # an estimate: no upstream call


async def test_mock_alias_through_the_anthropic_sdk(default_gateway, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    sdk = client(server, cerebra_key)
    message = sdk.messages.create(model="demo", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "This is a mock response from OCO cerebra: hi"
    assert message.usage.input_tokens > 0 and message.stop_reason == "end_turn"
    with sdk.messages.stream(
        model="demo", max_tokens=50, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "This is a mock response from OCO cerebra: stream it"
    assert "demo" in [m.id for m in sdk.models.list()]


async def test_refusal_is_text_with_stop_reason_refusal(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway({"m": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]}})
    sdk = client(server, cerebra_key)
    fake_openai.enqueue(
        Reply(refusal=True, finish="content_filter"), Reply(refusal=True, finish="content_filter")
    )
    message = sdk.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert message.stop_reason == "refusal" and "can't help" in message.content[0].text
    with sdk.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "refusal" and "can't help" in final.content[0].text
