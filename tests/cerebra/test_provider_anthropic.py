"""Anthropic adapter: request translation, responses, SSE translation, native pass-through, and a
round trip through the fake Anthropic server."""

from __future__ import annotations

import aiohttp
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from cerebra.providers import ProviderError, UpstreamTarget, Usage, get_adapter
from tests.cerebra.fakes import wire
from tests.cerebra.fakes.relay import frame_docs, openai_sse_server, translate_all
from tests.cerebra.fakes.upstreams import FakeAnthropic
from tests.cerebra.fakes.wire import Reply

ADAPTER = get_adapter("anthropic")
TARGET = UpstreamTarget("anthropic", "claude-3-5-haiku-latest", "https://api.anthropic.com", "sk-ant-secret")
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def translated(body: dict, stream: bool = False, target: UpstreamTarget = TARGET) -> dict:
    return orjson.loads(ADAPTER.chat_request(target, body, stream).body)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


# ------------------------------------------------------------------------------------- requests


def test_request_url_headers_and_defaults() -> None:
    req = ADAPTER.chat_request(TARGET, {"model": "alias", "messages": [user("hi")]}, False)
    assert req.method == "POST"
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-secret",
    }
    body = orjson.loads(req.body)
    assert body == {"model": "claude-3-5-haiku-latest", "max_tokens": 4096, "messages": [user("hi")]}


def test_base_url_with_v1_version_override_and_stream_flag() -> None:
    target = UpstreamTarget(
        "anthropic", "m", "http://127.0.0.1:9/v1/", "k", api_version="2024-01-01", default_max_tokens=77
    )
    req = ADAPTER.chat_request(target, {"messages": [user("hi")]}, True)
    assert req.url == "http://127.0.0.1:9/v1/messages"
    assert req.headers["anthropic-version"] == "2024-01-01"
    body = orjson.loads(req.body)
    assert body["stream"] is True and body["max_tokens"] == 77


def test_key_is_not_in_the_target_repr() -> None:
    assert "sk-ant-secret" not in repr(TARGET)


def test_system_messages_are_concatenated_into_system() -> None:
    body = translated(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Speak French."}]},
                user("hi"),
                {"role": "system", "content": "Late rule."},
            ]
        }
    )
    assert body["system"] == "Be brief.\n\nSpeak French.\n\nLate rule."
    assert body["messages"] == [user("hi")]


def test_system_with_cache_control_stays_a_block_list() -> None:
    part = {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
    body = translated({"messages": [{"role": "system", "content": [part]}, user("hi")]})
    assert body["system"] == [
        {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_tokens": 50}, {"max_tokens": 50}),
        ({"max_completion_tokens": 60, "max_tokens": 50}, {"max_tokens": 60}),
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"stop": ["a", "b"]}, {"stop_sequences": ["a", "b"]}),
        ({"temperature": 0.3, "top_p": 0.9}, {"temperature": 0.3, "top_p": 0.9}),
        ({"temperature": 1.7}, {"temperature": 1.0}),
        ({"user": "u-42"}, {"metadata": {"user_id": "u-42"}}),
    ],
)
def test_sampling_parameters(fields: dict, expected: dict) -> None:
    body = translated({"messages": [user("hi")], **fields})
    for key, value in expected.items():
        assert body[key] == value


def test_multipart_content_with_data_and_https_images() -> None:
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
    ]
    body = translated({"messages": [{"role": "user", "content": content}]})
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_tools_tool_calls_and_tool_results() -> None:
    body = translated(
        {
            "messages": [
                user("Weather in Paris and Rome?"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
                user("Thanks, which is warmer?"),
            ],
            "tools": [WEATHER_TOOL],
            "tool_choice": "auto",
        }
    )
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather of a city",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    assert body["tool_choice"] == {"type": "auto"}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
        {"type": "text", "text": "Thanks, which is warmer?"},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice(choice: object, expected: dict) -> None:
    assert (
        translated({"messages": [user("hi")], "tools": [WEATHER_TOOL], "tool_choice": choice})["tool_choice"]
        == expected
    )


def test_parallel_tool_calls_false_disables_parallel_tool_use() -> None:
    body = translated({"messages": [user("hi")], "tools": [WEATHER_TOOL], "parallel_tool_calls": False})
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_consecutive_same_role_messages_are_merged() -> None:
    body = translated({"messages": [user("one"), user("two"), {"role": "assistant", "content": "ok"}]})
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]


def test_json_modes_become_a_system_instruction() -> None:
    body = translated(
        {
            "messages": [{"role": "system", "content": "Be brief."}, user("hi")],
            "response_format": {"type": "json_object"},
        }
    )
    assert body["system"].startswith("Be brief.\n\n") and "JSON object" in body["system"]
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    spec = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    body = translated({"messages": [user("hi")], "response_format": spec})
    assert body["system"].endswith(orjson.dumps(schema).decode())


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"content": "no role"}], "messages[0].role"),
        ([user("hi"), {"role": "wizard", "content": "x"}], "messages[1].role"),
        (
            [user("hi"), {"role": "assistant", "content": "x"}, {"role": "tool", "content": "r"}],
            "messages[2].tool_call_id",
        ),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{bad"}}],
                }
            ],
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}],
            "messages[0].content[0].image_url.url",
        ),
        (
            [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
            "messages[0].content[0].type",
        ),
        ("not a list", "messages"),
    ],
)
def test_malformed_messages_name_the_field(messages: object, param: str) -> None:
    with pytest.raises(ProviderError) as err:
        ADAPTER.chat_request(TARGET, {"messages": messages}, False)
    assert err.value.param == param


def test_unsupported_n_and_embeddings() -> None:
    with pytest.raises(ProviderError) as err:
        ADAPTER.chat_request(TARGET, {"messages": [user("hi")], "n": 2}, False)
    assert err.value.param == "n"
    with pytest.raises(ProviderError) as err:
        ADAPTER.embeddings_request(TARGET, {"input": "x"})
    assert (err.value.message, err.value.param) == ("anthropic does not serve embeddings", "model")


# ------------------------------------------------------------------------------------ responses


def test_response_with_text_and_cache_usage() -> None:
    reply = Reply(text="Bonjour", usage=(100, 20), cache_read=30, cache_creation=5)
    data, usage = ADAPTER.chat_response(TARGET, orjson.dumps(wire.anthropic_message("claude-x", reply)), {})
    doc = ChatCompletion.model_validate_json(data)
    assert doc.model == TARGET.model
    assert doc.choices[0].message.content == "Bonjour"
    assert doc.choices[0].finish_reason == "stop"
    assert usage == Usage(
        prompt_tokens=135, completion_tokens=20, cache_read_tokens=30, cache_creation_tokens=5
    )
    assert doc.usage is not None and doc.usage.prompt_tokens == 135 and doc.usage.total_tokens == 155
    assert doc.usage.prompt_tokens_details is not None and doc.usage.prompt_tokens_details.cached_tokens == 30


def test_response_with_tool_use() -> None:
    reply = Reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Paris"})])
    data, _ = ADAPTER.chat_response(TARGET, orjson.dumps(wire.anthropic_message("m", reply)), {})
    doc = ChatCompletion.model_validate_json(data)
    choice = doc.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    call = choice.message.tool_calls[0]
    assert call.id.startswith("toolu_") and call.type == "function"
    assert call.function.name == "get_weather" and orjson.loads(call.function.arguments) == {"city": "Paris"}


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_finish_reason_mapping(stop_reason: str, finish: str) -> None:
    data, _ = ADAPTER.chat_response(
        TARGET, orjson.dumps(wire.anthropic_message("m", Reply(finish=stop_reason))), {}
    )
    assert orjson.loads(data)["choices"][0]["finish_reason"] == finish


def test_error_message_shape_and_fallback() -> None:
    body = orjson.dumps(wire.anthropic_error(429, "Number of request tokens has exceeded your rate limit"))
    assert ADAPTER.error_message(429, body) == "Number of request tokens has exceeded your rate limit"
    assert ADAPTER.error_message(502, b"") == "upstream returned HTTP 502"
    assert "sk-ant-api03-abcdefghijk" not in ADAPTER.error_message(500, b"bad key sk-ant-api03-abcdefghijk")


# --------------------------------------------------------------------------------------- streams


def stream_bytes(reply: Reply) -> bytes:
    return b"".join(wire.anthropic_stream("claude-x", reply))


@pytest.mark.parametrize("step", [None, 1, 5, 64])
def test_text_stream_translation(step: int | None) -> None:
    translator = ADAPTER.stream_translator(TARGET, {"stream": True})
    frames = translate_all(translator, stream_bytes(Reply(text="Hello there world", usage=(12, 3))), step)
    docs = frame_docs(frames)
    assert docs[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(d) for d in docs[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello there world"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {(c.id, c.created, c.model) for c in chunks} == {(chunks[0].id, chunks[0].created, TARGET.model)}
    assert all(c.choices for c in chunks)  # no usage chunk: the client did not ask
    assert translator.usage == Usage(prompt_tokens=12, completion_tokens=3)
    assert translator.finish_reason == "stop"


def test_stream_usage_chunk_when_asked() -> None:
    translator = ADAPTER.stream_translator(
        TARGET, {"stream": True, "stream_options": {"include_usage": True}}
    )
    docs = frame_docs(translate_all(translator, stream_bytes(Reply(usage=(40, 9), cache_read=10)), 3))
    usage_chunk = docs[-2]
    assert isinstance(usage_chunk, dict) and usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 50 and usage_chunk["usage"]["completion_tokens"] == 9
    assert usage_chunk["usage"]["prompt_tokens_details"] == {"cached_tokens": 10}


def test_tool_use_stream_translation_byte_by_byte() -> None:
    reply = Reply(
        text="Checking.", tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    )
    translator = ADAPTER.stream_translator(TARGET, {})
    docs = frame_docs(translate_all(translator, stream_bytes(reply), 1))
    chunks = [ChatCompletionChunk.model_validate(d) for d in docs[:-1]]
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for tc in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                entry["id"], entry["name"] = tc.id, tc.function.name
                assert tc.type == "function" and tc.function.arguments == ""
            else:
                entry["arguments"] += tc.function.arguments
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    assert orjson.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert orjson.loads(calls[1]["arguments"]) == {"tz": "CET"}
    assert all(calls[i]["id"].startswith("toolu_") for i in calls)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_error_event_ends_the_stream_with_an_error_frame() -> None:
    translator = ADAPTER.stream_translator(TARGET, {"stream_options": {"include_usage": True}})
    frames = translate_all(translator, stream_bytes(Reply(stream_error="Overloaded")), 2)
    last = frame_docs(frames)[-1]
    assert last == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "code": None, "param": None}
    }
    assert translator.error == {"type": "overloaded_error", "message": "Overloaded"}


def test_truncated_stream_ends_with_an_error_frame() -> None:
    data = stream_bytes(Reply())
    cut = data[: data.index(b"event: message_delta")]
    translator = ADAPTER.stream_translator(TARGET, {})
    docs = frame_docs(translate_all(translator, cut))
    assert docs[-1]["error"]["type"] == "upstream_error"


async def test_openai_sdk_reads_the_translated_stream_and_raises_on_error_frames() -> None:
    def make(request: dict) -> list[bytes]:
        reply = Reply(
            text="Hi from Claude", stream_error="Overloaded" if request["model"] == "broken" else None
        )
        return translate_all(ADAPTER.stream_translator(TARGET, request), stream_bytes(reply), 7)

    async with openai_sse_server(make) as base_url:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="oco_test", max_retries=0)
        stream = await client.chat.completions.create(model="ok", messages=[user("hi")], stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "Hi from Claude"
        stream = await client.chat.completions.create(model="broken", messages=[user("hi")], stream=True)
        with pytest.raises(openai.APIError, match="Overloaded"):
            async for _ in stream:
                pass
        await client.close()


# ------------------------------------------------------------------------------------- native


def test_native_request_swaps_credentials_and_model() -> None:
    headers = {
        "Authorization": "Bearer oco_callerkey",
        "X-Api-Key": "oco_callerkey",
        "Cookie": "session=1",
        "Host": "cerebra:8080",
        "Content-Length": "99",
        "anthropic-beta": "prompt-caching-2024-07-31",
        "X-Team-ID": "team-a",
        "content-type": "application/json",
    }
    body = orjson.dumps({"model": "alias", "max_tokens": 10, "messages": [user("hi")]})
    req = ADAPTER.native_request(TARGET, "/v1/messages", "beta=true", headers, body)
    assert req.method == "POST"
    assert req.url == "https://api.anthropic.com/v1/messages?beta=true"
    assert req.headers == {
        "anthropic-beta": "prompt-caching-2024-07-31",
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-secret",
    }
    assert orjson.loads(req.body)["model"] == TARGET.model
    caller_version = ADAPTER.native_request(
        TARGET, "v1/messages", "", {"anthropic-version": "2023-01-01"}, body
    )
    assert caller_version.headers["anthropic-version"] == "2023-01-01"


def test_native_usage_and_stream_tap() -> None:
    reply = Reply(usage=(30, 8), cache_creation=4)
    assert ADAPTER.native_usage(orjson.dumps(wire.anthropic_message("m", reply))) == Usage(34, 8, 0, 4)
    tap = ADAPTER.native_stream_usage()
    data = stream_bytes(reply)
    for i in range(0, len(data), 3):
        tap.feed(data[i : i + 3])
    assert tap.usage == Usage(34, 8, 0, 4)


# --------------------------------------------------------------------------------- round trip


async def test_round_trip_through_the_fake_anthropic() -> None:
    request = {
        "model": "alias",
        "messages": [{"role": "system", "content": "Be brief."}, user("Weather in Paris?")],
        "tools": [WEATHER_TOOL],
        "stream_options": {"include_usage": True},
    }
    with FakeAnthropic(api_key="sk-ant-secret") as fake:
        target = UpstreamTarget("anthropic", "claude-3-5-haiku-latest", fake.base_url, "sk-ant-secret")
        fake.enqueue(
            Reply(text="Sunny."), Reply(tool_calls=[("get_weather", {"city": "Paris"})], usage=(20, 6))
        )
        async with aiohttp.ClientSession() as session:
            up = ADAPTER.chat_request(target, request, False)
            async with session.request(up.method, up.url, headers=up.headers, data=up.body) as resp:
                assert resp.status == 200
                data, usage = ADAPTER.chat_response(target, await resp.read(), request)
            assert orjson.loads(data)["choices"][0]["message"]["content"] == "Sunny."
            assert usage.total_tokens == 18

            up = ADAPTER.chat_request(target, request, True)
            translator = ADAPTER.stream_translator(target, request)
            frames: list[bytes] = []
            async with session.request(up.method, up.url, headers=up.headers, data=up.body) as resp:
                async for piece in resp.content.iter_any():
                    frames += translator.feed(piece)
            frames += translator.close()
        sent = fake.requests[0]
        assert (
            sent.headers["x-api-key"] == "sk-ant-secret" and sent.headers["anthropic-version"] == "2023-06-01"
        )
        assert sent.json["system"] == "Be brief." and sent.json["max_tokens"] == 4096
        assert fake.requests[1].json["stream"] is True
    docs = frame_docs(frames)
    assert docs[-1] == "[DONE]" and docs[-2]["usage"]["total_tokens"] == 26
    assert translator.finish_reason == "tool_calls"


async def test_auth_error_from_the_fake_is_readable() -> None:
    with FakeAnthropic() as fake:
        target = UpstreamTarget("anthropic", "m", fake.base_url, None)
        up = ADAPTER.chat_request(target, {"messages": [user("hi")]}, False)
        async with (
            aiohttp.ClientSession() as session,
            session.post(up.url, headers=up.headers, data=up.body) as resp,
        ):
            assert resp.status == 401
            assert ADAPTER.error_message(resp.status, await resp.read()) == "x-api-key header is required"


def test_unreadable_upstream_answers_raise_provider_errors() -> None:
    with pytest.raises(ProviderError, match="not a JSON object"):
        ADAPTER.chat_response(TARGET, b"<html>oops</html>", {})
    with pytest.raises(ProviderError, match="unexpected anthropic message shape"):
        ADAPTER.chat_response(TARGET, b'{"content": "a string, not blocks"}', {})
    translator = ADAPTER.stream_translator(TARGET, {})
    bad = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":"x"}\n\n'
    docs = frame_docs(translate_all(translator, bad))
    assert docs[-1]["error"]["type"] == "upstream_error" and translator.error is not None


def test_tool_history_without_tools_declares_them_and_forbids_new_calls() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    messages = [
        user("q"),
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
    ]
    body = translated({"messages": messages, "tool_choice": "none"})
    assert body["tools"] == [{"name": "lookup", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in translated({"messages": [user("hi")], "tool_choice": "none"})
