"""The built-in `mock` provider and default route table, through the official openai SDK over real HTTP:
a fresh gateway with no configuration answers `demo` (chat JSON and SSE, embeddings), priced 0 and logged."""

from __future__ import annotations

import base64
import json
import struct
from decimal import Decimal

import httpx
import openai

from tests.cerebra.conftest import deployment
from tests.conftest import table_rows

HELLO = [{"role": "user", "content": "hello there"}]


def client(server, key: str) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


async def test_fresh_gateway_lists_demo_as_mock(default_gateway, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    models = client(server, cerebra_key).models.list()
    by_id = {m.id: m for m in models.data}
    assert by_id["demo"].owned_by == "oco-mock"
    assert client(server, cerebra_key).models.retrieve("demo").owned_by == "oco-mock"
    assert "gpt-4o-mini" not in by_id  # no OPENAI_API_KEY: no real provider alias
    assert by_id["auto"].owned_by == "oco-mock"  # the implicit `auto` can only pick the mock here


async def test_demo_chat_is_a_deterministic_priced_zero_mock(default_gateway, cerebra_key, database) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    raw = client(server, cerebra_key).chat.completions.with_raw_response.create(model="demo", messages=HELLO)
    completion = raw.parse()
    text = completion.choices[0].message.content
    assert text == "This is a mock response from OCO cerebra: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion"
    usage = completion.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens == len(text.split(" "))
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-oco-provider"] == "mock"
    assert raw.headers["x-oco-model"] == "oco-mock"
    again = client(server, cerebra_key).chat.completions.create(model="demo", messages=HELLO)
    assert again.choices[0].message.content == text and again.usage.prompt_tokens == usage.prompt_tokens
    server.stop()  # flushes the request log
    rows = [
        r
        for r in await table_rows(database, "api_requests")
        if r["request_id"] == raw.headers["x-request-id"]
    ]
    assert len(rows) == 1
    row = rows[0]
    assert row["provider"] == "mock" and row["alias"] == "demo" and row["status_code"] == 200
    assert row["prompt_tokens"] == usage.prompt_tokens
    assert row["cost_usd"] is not None and Decimal(str(row["cost_usd"])) == 0  # priced as 0, not unpriced


async def test_demo_echo_is_truncated(default_gateway, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    long = "word " * 500
    completion = client(server, cerebra_key).chat.completions.create(
        model="demo", messages=[{"role": "user", "content": long}]
    )
    text = completion.choices[0].message.content
    assert text.startswith("This is a mock response from OCO cerebra: word word") and text.endswith("...")
    assert len(text) < 300


async def test_demo_streams_chunk_by_chunk_with_usage_when_asked(default_gateway, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    sdk = client(server, cerebra_key)
    chunks = list(sdk.chat.completions.create(model="demo", messages=HELLO, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len(chunks) > 3  # role, one per word, finish
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "This is a mock response from OCO cerebra: hello there"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)  # not asked for

    chunks = list(
        sdk.chat.completions.create(
            model="demo", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == len(text.split(" ")) and last.usage.prompt_tokens > 0


async def test_demo_stream_wire_format_is_openai_sse(default_gateway, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    body = {"model": "demo", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/v1/chat/completions", json=body, headers={"X-API-Key": cerebra_key})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    docs = [json.loads(e) for e in events[:-1]]
    assert len({d["id"] for d in docs}) == 1
    assert all(d["usage"] is None for d in docs[:-1]) and docs[-1]["usage"]["total_tokens"] > 0


async def test_demo_tool_and_json_modes_answer(default_gateway, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    sdk = client(server, cerebra_key)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    forced = sdk.chat.completions.create(model="demo", messages=HELLO, tools=tools, tool_choice="required")
    call = forced.choices[0].message.tool_calls[0]
    assert forced.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {}
    optional = sdk.chat.completions.create(model="demo", messages=HELLO, tools=tools)
    assert optional.choices[0].message.content.startswith("This is a mock response")
    as_json = sdk.chat.completions.create(
        model="demo", messages=HELLO, response_format={"type": "json_object"}
    )
    assert json.loads(as_json.choices[0].message.content)["mock"] is True
    streamed = list(
        sdk.chat.completions.create(
            model="demo", messages=HELLO, tools=tools, tool_choice="required", stream=True
        )
    )
    names = [d.function.name for c in streamed if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert names == ["get_weather"]
    capped = sdk.chat.completions.create(model="demo", messages=HELLO, max_tokens=3)
    assert capped.choices[0].finish_reason == "length" and capped.usage.completion_tokens == 3


async def test_demo_embeddings_are_deterministic_and_honour_dimensions(default_gateway, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    sdk = client(server, cerebra_key)
    result = sdk.embeddings.create(model="demo", input=["alpha", "beta", "alpha"], dimensions=64)
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-3
    assert result.usage.prompt_tokens > 0 and result.usage.total_tokens == result.usage.prompt_tokens
    default = sdk.embeddings.create(model="demo", input="alpha")
    assert len(default.data[0].embedding) == 1536
    async with httpx.AsyncClient(base_url=server.url) as http:
        floats = await http.post(
            "/v1/embeddings",
            json={"model": "demo", "input": "alpha", "dimensions": 64, "encoding_format": "float"},
            headers={"X-API-Key": cerebra_key},
        )
        packed = await http.post(
            "/v1/embeddings",
            json={"model": "demo", "input": "alpha", "dimensions": 64, "encoding_format": "base64"},
            headers={"X-API-Key": cerebra_key},
        )
        bad = await http.post(
            "/v1/embeddings",
            json={"model": "demo", "input": "alpha", "dimensions": 0},
            headers={"X-API-Key": cerebra_key},
        )
    assert floats.headers["x-oco-provider"] == "mock"
    as_floats = floats.json()["data"][0]["embedding"]
    decoded = struct.unpack("<64f", base64.b64decode(packed.json()["data"][0]["embedding"]))
    assert all(abs(a - b) < 1e-6 for a, b in zip(as_floats, decoded, strict=True))
    assert all(abs(a - b) < 1e-6 for a, b in zip(as_floats, vectors[0], strict=True))
    assert bad.status_code == 400 and "dimensions" in bad.json()["error"]["message"]


async def test_mock_has_no_native_route(default_gateway, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = default_gateway()
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/v1/mock/chat/completions", json={"model": "demo"}, headers={"X-API-Key": cerebra_key}
        )
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_route"


async def test_auto_prefers_a_real_provider_over_the_free_mock(gateway, fake_openai, cerebra_key) -> None:  # type: ignore[no-untyped-def]
    server = gateway(
        {
            "demo": {"deployments": [{"provider": "mock", "model": "oco-mock"}]},
            "chat": {"deployments": [deployment(fake_openai, "gpt-4o-mini")]},
        }
    )
    raw = client(server, cerebra_key).chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert raw.headers["x-oco-provider"] == "openai"
    only_mock = gateway({"demo": {"deployments": [{"provider": "mock", "model": "oco-mock"}]}})
    raw = client(only_mock, cerebra_key).chat.completions.with_raw_response.create(
        model="auto", messages=HELLO
    )
    assert raw.headers["x-oco-provider"] == "mock"
