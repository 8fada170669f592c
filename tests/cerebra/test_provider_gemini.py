"""Gemini adapter: generateContent translation, responses, SSE translation, embeddings, native
pass-through, and a round trip through the fake Gemini server."""

from __future__ import annotations

import base64
import struct

import aiohttp
import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from cerebra.providers import ProviderError, UpstreamTarget, Usage, get_adapter
from cerebra.providers.gemini_schema import to_gemini_schema
from tests.cerebra.fakes import wire
from tests.cerebra.fakes.relay import frame_docs, translate_all
from tests.cerebra.fakes.upstreams import FakeGemini
from tests.cerebra.fakes.wire import Reply

ADAPTER = get_adapter("gemini")
BASE = "https://generativelanguage.googleapis.com"
TARGET = UpstreamTarget("gemini", "gemini-2.0-flash", BASE, "AIzaSyTESTKEY0123456789abcdef")
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": ["string", "null"], "enum": ["C", "F"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def translated(body: dict, stream: bool = False) -> dict:
    return orjson.loads(ADAPTER.chat_request(TARGET, body, stream).body)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_urls_and_key_header() -> None:
    req = ADAPTER.chat_request(TARGET, {"messages": [user("hi")]}, False)
    assert req.url == f"{BASE}/v1beta/models/gemini-2.0-flash:generateContent"
    assert req.headers == {"content-type": "application/json", "x-goog-api-key": TARGET.api_key}
    stream = ADAPTER.chat_request(TARGET, {"messages": [user("hi")]}, True)
    assert stream.url == f"{BASE}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert "key=" not in stream.url
    versioned = UpstreamTarget("gemini", "models/gemini-pro", "http://h/v1beta/", "k")
    assert (
        ADAPTER.chat_request(versioned, {"messages": [user("hi")]}, False).url
        == "http://h/v1beta/models/gemini-pro:generateContent"
    )


def test_roles_system_instruction_and_parts() -> None:
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png?x=1"}},
    ]
    body = translated(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": content},
                {"role": "assistant", "content": "A cat."},
                user("More?"),
            ]
        }
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "Describe"},
                {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
                {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png?x=1"}},
            ],
        },
        {"role": "model", "parts": [{"text": "A cat."}]},
        {"role": "user", "parts": [{"text": "More?"}]},
    ]


def test_generation_config() -> None:
    body = translated(
        {
            "messages": [user("hi")],
            "max_tokens": 100,
            "temperature": 0.5,
            "top_p": 0.8,
            "stop": "END",
            "n": 2,
            "seed": 7,
            "response_format": {"type": "json_object"},
        }
    )
    assert body["generationConfig"] == {
        "maxOutputTokens": 100,
        "temperature": 0.5,
        "topP": 0.8,
        "seed": 7,
        "candidateCount": 2,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
    }


def test_json_schema_simple_and_complex() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    spec = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    config = translated({"messages": [user("hi")], "response_format": spec})["generationConfig"]
    assert config["responseSchema"] == {
        "type": "OBJECT",
        "properties": {"n": {"type": "INTEGER"}},
        "required": ["n"],
    }
    complex_schema = {
        "$defs": {"a": {"type": "string"}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/a"}},
    }
    spec = {"type": "json_schema", "json_schema": {"name": "x", "schema": complex_schema}}
    config = translated({"messages": [user("hi")], "response_format": spec})["generationConfig"]
    assert config["responseJsonSchema"] == complex_schema and "responseSchema" not in config


def test_schema_conversion() -> None:
    assert to_gemini_schema(TOOL["function"]["parameters"]) == {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING"},
            "unit": {"type": "STRING", "nullable": True, "enum": ["C", "F"], "format": "enum"},
        },
        "required": ["city"],
    }
    assert to_gemini_schema({"type": "integer", "enum": [1, 2]}) is None
    assert to_gemini_schema({"allOf": [{"type": "string"}]}) is None


def test_tools_tool_choice_calls_and_responses() -> None:
    body = translated(
        {
            "messages": [
                user("Weather and time?"),
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": ""},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 18}'},
                {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
            ],
            "tools": [
                TOOL,
                {
                    "type": "function",
                    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
                },
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        }
    )
    decls = body["tools"][0]["functionDeclarations"]
    assert decls[0]["name"] == "get_weather" and decls[0]["parameters"]["type"] == "OBJECT"
    assert decls[1] == {"name": "get_time", "description": ""}  # Gemini rejects empty OBJECT properties
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body["contents"][1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}}},
        ],
    }
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
            {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
        ],
    }


@pytest.mark.parametrize(("choice", "mode"), [("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")])
def test_tool_choice_modes(choice: str, mode: str) -> None:
    body = translated({"messages": [user("hi")], "tools": [TOOL], "tool_choice": choice})
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_json_schema_tool_parameters_fall_back_to_parameters_json_schema() -> None:
    params = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/x"}},
        "$defs": {"x": {"type": "string"}},
    }
    body = translated(
        {
            "messages": [user("hi")],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": params}}],
        }
    )
    assert body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == params


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (
            [user("hi"), {"role": "tool", "tool_call_id": "call_zzz", "content": "x"}],
            "messages[1].tool_call_id",
        ),
        ([user("hi"), {"role": "tool", "content": "x"}], "messages[1].tool_call_id"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": "function", "content": "x"}], "messages[0].role"),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}],
                }
            ],
            "messages[0].content[0].image_url.url",
        ),
    ],
)
def test_malformed_messages_name_the_field(messages: list, param: str) -> None:
    with pytest.raises(ProviderError) as err:
        ADAPTER.chat_request(TARGET, {"messages": messages}, False)
    assert err.value.param == param


# ------------------------------------------------------------------------------------ responses


def test_text_response_and_usage() -> None:
    doc = wire.gemini_response("gemini-2.0-flash", Reply(text="Hi", usage=(10, 4), cache_read=6))
    doc["usageMetadata"]["thoughtsTokenCount"] = 3
    data, usage = ADAPTER.chat_response(TARGET, orjson.dumps(doc), {})
    completion = ChatCompletion.model_validate_json(data)
    assert completion.model == "gemini-2.0-flash"
    assert completion.choices[0].message.content == "Hi" and completion.choices[0].finish_reason == "stop"
    assert usage == Usage(prompt_tokens=10, completion_tokens=7, cache_read_tokens=6)
    assert completion.usage is not None and completion.usage.total_tokens == 17


def test_function_call_response() -> None:
    doc = wire.gemini_response("m", Reply(tool_calls=[("get_weather", {"city": "Rome"}), ("get_time", {})]))
    completion = ChatCompletion.model_validate_json(ADAPTER.chat_response(TARGET, orjson.dumps(doc), {})[0])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert orjson.loads(calls[0].function.arguments) == {"city": "Rome"}
    assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
     ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter")],
)  # fmt: skip
def test_finish_reasons(reason: str, finish: str) -> None:
    doc = wire.gemini_response("m", Reply(finish=reason))
    assert (
        orjson.loads(ADAPTER.chat_response(TARGET, orjson.dumps(doc), {})[0])["choices"][0]["finish_reason"]
        == finish
    )


def test_blocked_prompt_and_safety_stop() -> None:
    data, usage = ADAPTER.chat_response(
        TARGET, orjson.dumps(wire.gemini_response("m", Reply(prompt_blocked=True))), {}
    )
    choice = orjson.loads(data)["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] == ""
    assert usage.prompt_tokens == 11
    data, _ = ADAPTER.chat_response(TARGET, orjson.dumps(wire.gemini_response("m", Reply(refusal=True))), {})
    choice = orjson.loads(data)["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] == ""


def test_error_messages() -> None:
    body = orjson.dumps(wire.gemini_error(429, "Resource has been exhausted (e.g. check quota)."))
    assert ADAPTER.error_message(429, body) == "Resource has been exhausted (e.g. check quota)."
    assert ADAPTER.error_message(400, b"[" + orjson.dumps(wire.gemini_error(400, "bad")) + b"]") == "bad"
    leaked = ADAPTER.error_message(
        400, b"invalid key AIzaSyTESTKEY0123456789abcdef in ?key=AIzaSyTESTKEY0123456789abcdef"
    )
    assert "AIza" not in leaked


# --------------------------------------------------------------------------------------- streams


def stream_bytes(reply: Reply) -> bytes:
    return b"".join(wire.gemini_stream("gemini-2.0-flash", reply))


@pytest.mark.parametrize("step", [None, 1, 13])
def test_text_stream(step: int | None) -> None:
    translator = ADAPTER.stream_translator(TARGET, {"stream_options": {"include_usage": True}})
    docs = frame_docs(
        translate_all(translator, stream_bytes(Reply(text="one two three", usage=(8, 3))), step)
    )
    assert docs[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(d) for d in docs[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 11
    assert len({c.id for c in chunks}) == 1
    assert translator.usage == Usage(8, 3) and translator.finish_reason == "stop"


def test_function_call_stream() -> None:
    translator = ADAPTER.stream_translator(TARGET, {})
    docs = frame_docs(
        translate_all(translator, stream_bytes(Reply(tool_calls=[("f", {"a": 1}), ("g", {})])), 1)
    )
    calls = [tc for d in docs[:-1] for tc in d["choices"][0]["delta"].get("tool_calls", [])]
    assert [(c["index"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        (0, "f", '{"a":1}'),
        (1, "g", "{}"),
    ]
    assert translator.finish_reason == "tool_calls"
    assert all(d["choices"] for d in docs[:-1])  # no usage chunk unasked


def test_blocked_and_error_streams() -> None:
    translator = ADAPTER.stream_translator(TARGET, {})
    docs = frame_docs(translate_all(translator, stream_bytes(Reply(prompt_blocked=True))))
    assert docs[-2]["choices"][0]["finish_reason"] == "content_filter"
    translator = ADAPTER.stream_translator(TARGET, {})
    docs = frame_docs(translate_all(translator, stream_bytes(Reply(stream_error="backend died")), 3))
    assert docs[-1] == {"error": {"message": "backend died", "type": "INTERNAL", "code": None, "param": None}}


# ------------------------------------------------------------------------------------ embeddings


def test_embeddings_requests() -> None:
    single = ADAPTER.embeddings_request(TARGET, {"model": "e", "input": "hello", "dimensions": 4})
    assert single.url == f"{BASE}/v1beta/models/gemini-2.0-flash:embedContent"
    assert orjson.loads(single.body) == {"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 4}
    batch = ADAPTER.embeddings_request(TARGET, {"model": "e", "input": ["a", "b"]})
    assert batch.url == f"{BASE}/v1beta/models/gemini-2.0-flash:batchEmbedContents"
    assert orjson.loads(batch.body) == {
        "requests": [
            {"model": "models/gemini-2.0-flash", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/gemini-2.0-flash", "content": {"parts": [{"text": "b"}]}},
        ]
    }
    with pytest.raises(ProviderError) as err:
        ADAPTER.embeddings_request(TARGET, {"input": [[1, 2, 3]]})
    assert err.value.param == "input"


def test_embeddings_responses() -> None:
    data = orjson.dumps({"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25, 2.0]}]})
    out, usage = ADAPTER.embeddings_response(TARGET, data, {"input": ["a", "b"]})
    assert orjson.loads(out) == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
            {"object": "embedding", "index": 1, "embedding": [0.25, 2.0]},
        ],
        "model": "gemini-2.0-flash",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    assert usage == Usage()
    out, _ = ADAPTER.embeddings_response(
        TARGET, orjson.dumps({"embedding": {"values": [0.5, -1.0]}}), {"encoding_format": "base64"}
    )
    encoded = orjson.loads(out)["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(encoded)) == (0.5, -1.0)


# ------------------------------------------------------------------------------------- native


def test_native_request_rewrites_model_and_strips_keys() -> None:
    headers = {
        "x-goog-api-key": "oco_callerkey",
        "Authorization": "Bearer oco_x",
        "content-type": "application/json",
    }
    body = orjson.dumps({"requests": [{"model": "models/alias", "content": {"parts": [{"text": "a"}]}}]})
    req = ADAPTER.native_request(
        TARGET, "v1beta/models/alias:batchEmbedContents", "key=oco_callerkey&alt=sse", headers, body
    )
    assert req.url == f"{BASE}/v1beta/models/gemini-2.0-flash:batchEmbedContents?alt=sse"
    assert req.headers == {"content-type": "application/json", "x-goog-api-key": TARGET.api_key}
    assert orjson.loads(req.body)["requests"][0]["model"] == "models/gemini-2.0-flash"
    listing = ADAPTER.native_request(TARGET, "/v1beta/models", "key=abc", {}, b"")
    assert (listing.method, listing.url) == ("GET", f"{BASE}/v1beta/models")


def test_native_usage_and_stream_taps() -> None:
    reply = Reply(usage=(21, 5))
    assert ADAPTER.native_usage(orjson.dumps(wire.gemini_response("m", reply))) == Usage(21, 5)
    tap = ADAPTER.native_stream_usage()
    data = stream_bytes(reply)
    for i in range(0, len(data), 7):
        tap.feed(data[i : i + 7])
    assert tap.usage == Usage(21, 5)
    array_tap = ADAPTER.native_stream_usage()  # streamGenerateContent without alt=sse: a JSON array
    array_tap.feed(
        orjson.dumps([wire.gemini_response("m", Reply(usage=(2, 1))), wire.gemini_response("m", reply)])
    )
    array_tap.close()
    assert array_tap.usage == Usage(21, 5)


# --------------------------------------------------------------------------------- round trip


async def test_round_trip_through_the_fake_gemini() -> None:
    request = {
        "model": "alias",
        "messages": [{"role": "system", "content": "Be brief."}, user("hi")],
        "stream_options": {"include_usage": True},
    }
    with FakeGemini(api_key="gkey") as fake:
        target = UpstreamTarget("gemini", "gemini-2.0-flash", fake.base_url, "gkey")
        async with aiohttp.ClientSession() as session:
            up = ADAPTER.chat_request(target, request, False)
            async with session.post(up.url, headers=up.headers, data=up.body) as resp:
                data, usage = ADAPTER.chat_response(target, await resp.read(), request)
            assert orjson.loads(data)["choices"][0]["message"]["content"] == "Hello from the fake upstream."

            up = ADAPTER.chat_request(target, request, True)
            translator = ADAPTER.stream_translator(target, request)
            frames: list[bytes] = []
            async with session.post(up.url, headers=up.headers, data=up.body) as resp:
                async for piece in resp.content.iter_any():
                    frames += translator.feed(piece)
            frames += translator.close()

            up = ADAPTER.embeddings_request(target, {"input": ["a", "b"]})
            async with session.post(up.url, headers=up.headers, data=up.body) as resp:
                assert resp.status == 200
                emb, _ = ADAPTER.embeddings_response(target, await resp.read(), {})
        sent = fake.requests[0]
        assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"
        assert sent.headers["x-goog-api-key"] == "gkey" and "key" not in sent.query
        assert sent.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert fake.requests[1].query == {"alt": "sse"}
    assert usage == Usage(11, 7)
    docs = frame_docs(frames)
    assert docs[-2]["usage"]["total_tokens"] == 18 and translator.finish_reason == "stop"
    assert [d["index"] for d in orjson.loads(emb)["data"]] == [0, 1]


def test_unreadable_upstream_answers_raise_provider_errors() -> None:
    with pytest.raises(ProviderError, match="not a JSON object"):
        ADAPTER.chat_response(TARGET, b"[]", {})
    with pytest.raises(ProviderError, match="unexpected gemini response shape"):
        ADAPTER.chat_response(TARGET, b'{"candidates": ["nope"]}', {})
    with pytest.raises(ProviderError, match="unexpected gemini embeddings shape"):
        ADAPTER.embeddings_response(TARGET, b'{"embeddings": [1, 2]}', {})
    translator = ADAPTER.stream_translator(TARGET, {})
    docs = frame_docs(
        translate_all(translator, b'data: {"candidates": [{"content": {"parts": [1]}}]}\r\n\r\n')
    )
    assert docs[-1]["error"]["type"] == "upstream_error"
