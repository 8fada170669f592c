"""OpenAI-compatible adapter: pass-through requests (OpenAI, Azure, keyless), usage capture and
stripping on streams, embeddings, native pass-through, and a round trip through the fake OpenAI."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from cerebra.providers import UpstreamTarget, Usage, get_adapter
from tests.cerebra.fakes import wire
from tests.cerebra.fakes.relay import frame_docs, translate_all
from tests.cerebra.fakes.upstreams import FakeOpenAI
from tests.cerebra.fakes.wire import Reply

ADAPTER = get_adapter("openai")
TARGET = UpstreamTarget("openai", "gpt-4o-mini", "https://api.openai.com/v1/", "sk-proj-secret123456")
AZURE = UpstreamTarget(
    "openai", "my-deploy", "https://res.openai.azure.com", "azkey", api_version="2024-06-01", azure=True
)
BODY = {
    "model": "chat-default",
    "messages": [{"role": "user", "content": "hi"}],
    "temperature": 0.2,
    "logit_bias": {"50256": -100},
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
}


def test_chat_request_only_swaps_the_model() -> None:
    req = ADAPTER.chat_request(
        TARGET, {**BODY, "stream": False, "stream_options": {"include_usage": True}}, False
    )
    assert (req.method, req.url) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert req.headers == {"content-type": "application/json", "authorization": "Bearer sk-proj-secret123456"}
    assert orjson.loads(req.body) == {**BODY, "model": "gpt-4o-mini"}
    assert BODY["model"] == "chat-default"  # the caller's dict is not mutated


def test_stream_request_always_asks_for_usage() -> None:
    body = orjson.loads(ADAPTER.chat_request(TARGET, {**BODY, "stream": True}, True).body)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    extra = {**BODY, "stream": True, "stream_options": {"include_usage": False, "other": 1}}
    body = orjson.loads(ADAPTER.chat_request(TARGET, extra, True).body)
    assert body["stream_options"] == {"include_usage": True, "other": 1}


def test_azure_and_keyless_targets() -> None:
    req = ADAPTER.chat_request(AZURE, BODY, False)
    assert (
        req.url
        == "https://res.openai.azure.com/openai/deployments/my-deploy/chat/completions?api-version=2024-06-01"
    )
    assert req.headers == {"content-type": "application/json", "api-key": "azkey"}
    emb = ADAPTER.embeddings_request(AZURE, {"model": "x", "input": "hi"})
    assert (
        emb.url
        == "https://res.openai.azure.com/openai/deployments/my-deploy/embeddings?api-version=2024-06-01"
    )
    ollama = UpstreamTarget("openai", "llama3.2", "http://localhost:11434/v1", None)
    assert ADAPTER.chat_request(ollama, BODY, False).headers == {"content-type": "application/json"}


def test_chat_response_is_passed_through_with_usage() -> None:
    data = orjson.dumps(
        wire.openai_completion("gpt-4o-mini-2024-07-18", Reply(usage=(120, 30), cache_read=64))
    )
    out, usage = ADAPTER.chat_response(TARGET, data, BODY)
    assert out is data
    assert usage == Usage(prompt_tokens=120, completion_tokens=30, cache_read_tokens=64)


def stream_bytes(reply: Reply, include_usage: bool = True, crlf: bool = False) -> bytes:
    data = b"".join(wire.openai_stream("gpt-4o-mini", reply, include_usage))
    return data.replace(b"\n", b"\r\n") if crlf else data


@pytest.mark.parametrize("step", [None, 1, 9])
def test_stream_strips_the_unasked_usage_chunk_but_keeps_the_usage(step: int | None) -> None:
    translator = ADAPTER.stream_translator(TARGET, {"stream": True})
    docs = frame_docs(translate_all(translator, stream_bytes(Reply(text="a b c", usage=(5, 3))), step))
    assert docs[-1] == "[DONE]" and docs.count("[DONE]") == 1
    assert all(d["choices"] for d in docs[:-1])
    assert "".join(d["choices"][0]["delta"].get("content") or "" for d in docs[:-1]) == "a b c"
    assert translator.usage == Usage(5, 3)
    assert translator.finish_reason == "stop"


def test_stream_keeps_the_usage_chunk_when_asked_and_reframes_crlf() -> None:
    translator = ADAPTER.stream_translator(
        TARGET, {"stream": True, "stream_options": {"include_usage": True}}
    )
    upstream = stream_bytes(Reply(usage=(5, 3)), crlf=True)
    frames = translate_all(translator, upstream, 4)
    assert b"".join(frames) == upstream.replace(b"\r\n", b"\n")
    assert frame_docs(frames)[-2]["usage"]["total_tokens"] == 8


def test_stream_passes_tool_calls_and_upstream_errors() -> None:
    translator = ADAPTER.stream_translator(TARGET, {})
    docs = frame_docs(translate_all(translator, stream_bytes(Reply(tool_calls=[("f", {"x": 1})])), 2))
    assert translator.finish_reason == "tool_calls"
    assert docs[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "f"
    translator = ADAPTER.stream_translator(TARGET, {})
    frames = translate_all(translator, stream_bytes(Reply(stream_error="boom")))
    assert translator.error is not None and translator.error["message"] == "boom"
    assert frame_docs(frames)[-2]["error"]["message"] == "boom"


def test_embeddings_pass_through() -> None:
    req = ADAPTER.embeddings_request(
        TARGET, {"model": "embed-alias", "input": ["a", "b"], "encoding_format": "base64"}
    )
    assert req.url == "https://api.openai.com/v1/embeddings"
    assert orjson.loads(req.body) == {
        "model": "gpt-4o-mini",
        "input": ["a", "b"],
        "encoding_format": "base64",
    }
    data = orjson.dumps(wire.openai_embeddings("text-embedding-3-small", ["a b", "c"], 4, None))
    out, usage = ADAPTER.embeddings_response(TARGET, data, {})
    assert out is data and usage == Usage(prompt_tokens=3)


def test_error_messages_are_extracted_and_keys_redacted() -> None:
    body = orjson.dumps(wire.openai_error(401, "Incorrect API key provided: sk-proj-abcdefghijklmnop."))
    assert ADAPTER.error_message(401, body) == "Incorrect API key provided: [redacted]."
    assert ADAPTER.error_message(400, b'{"message": "vllm says no"}') == "vllm says no"
    assert ADAPTER.error_message(502, b"<html>Bad gateway</html>") == "<html>Bad gateway</html>"
    assert ADAPTER.error_message(503, b"") == "upstream returned HTTP 503"


def test_native_request() -> None:
    headers = {
        "authorization": "Bearer oco_callerkey",
        "content-length": "10",
        "openai-beta": "assistants=v2",
        "x-org-id": "o",
    }
    body = orjson.dumps({"model": "alias", "input": "x"})
    req = ADAPTER.native_request(TARGET, "embeddings", "", headers, body)
    assert req.url == "https://api.openai.com/v1/embeddings"
    assert req.headers == {
        "openai-beta": "assistants=v2",
        "authorization": "Bearer sk-proj-secret123456",
        "content-type": "application/json",
    }
    assert orjson.loads(req.body)["model"] == "gpt-4o-mini"
    listing = ADAPTER.native_request(TARGET, "/models", "limit=2", {"api-key": "oco_x"}, b"")
    assert (listing.method, listing.url, listing.body) == (
        "GET",
        "https://api.openai.com/v1/models?limit=2",
        b"",
    )
    azure = ADAPTER.native_request(AZURE, "chat/completions", "", {"api-key": "oco_x"}, body)
    assert (
        azure.url
        == "https://res.openai.azure.com/openai/deployments/my-deploy/chat/completions?api-version=2024-06-01"
    )
    assert azure.headers["api-key"] == "azkey"


def test_native_usage_and_stream_tap() -> None:
    assert ADAPTER.native_usage(orjson.dumps(wire.openai_completion("m", Reply(usage=(9, 4))))) == Usage(9, 4)
    tap = ADAPTER.native_stream_usage()
    data = stream_bytes(Reply(usage=(9, 4)))
    for i in range(0, len(data), 5):
        tap.feed(data[i : i + 5])
    assert tap.usage == Usage(9, 4)


async def test_round_trip_through_the_fake_openai() -> None:
    with FakeOpenAI(api_key="sk-test") as fake:
        target = UpstreamTarget("openai", "gpt-4o-mini", fake.base_url, "sk-test")
        async with aiohttp.ClientSession() as session:
            up = ADAPTER.chat_request(target, BODY, False)
            async with session.post(up.url, headers=up.headers, data=up.body) as resp:
                _, usage = ADAPTER.chat_response(target, await resp.read(), BODY)
            assert usage == Usage(11, 7)

            request = {**BODY, "stream": True}
            up = ADAPTER.chat_request(target, request, True)
            translator = ADAPTER.stream_translator(target, request)
            frames: list[bytes] = []
            async with session.post(up.url, headers=up.headers, data=up.body) as resp:
                async for piece in resp.content.iter_any():
                    frames += translator.feed(piece)
            frames += translator.close()

            up = ADAPTER.embeddings_request(target, {"model": "e", "input": "hello"})
            async with session.post(up.url, headers=up.headers, data=up.body) as resp:
                _, emb_usage = ADAPTER.embeddings_response(target, await resp.read(), {})
        assert fake.requests[1].json["stream_options"] == {"include_usage": True}
        assert fake.requests[1].headers["authorization"] == "Bearer sk-test"
        assert fake.requests[2].json["model"] == "gpt-4o-mini"
    docs = frame_docs(frames)
    assert all(d["choices"] for d in docs[:-1]) and docs[-1] == "[DONE]"
    assert translator.usage == Usage(11, 7) and emb_usage == Usage(1)


async def test_round_trip_through_the_fake_azure_deployment() -> None:
    with FakeOpenAI() as fake:
        target = UpstreamTarget("openai", "dep1", fake.url, "azkey", api_version="2024-10-21", azure=True)
        up = ADAPTER.chat_request(target, BODY, False)
        async with (
            aiohttp.ClientSession() as session,
            session.post(up.url, headers=up.headers, data=up.body) as resp,
        ):
            assert resp.status == 200
            assert (await resp.json())["model"] == "dep1"
        assert fake.last.path == "/openai/deployments/dep1/chat/completions"
        assert fake.last.query == {"api-version": "2024-10-21"} and fake.last.headers["api-key"] == "azkey"


def test_multiline_data_events_are_reframed_on_one_line() -> None:
    translator = ADAPTER.stream_translator(TARGET, {})
    upstream = b'data: {"choices":[{"index":0,\ndata: "delta":{"content":"x"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    docs = frame_docs(translate_all(translator, upstream))
    assert docs == [{"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]}, "[DONE]"]
    assert translator.finish_reason == "stop"
