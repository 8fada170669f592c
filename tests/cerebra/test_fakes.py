"""The fake upstreams themselves: provider-shaped auth errors, scripted behaviours, recording, wire
framing, the fast benchmark server and its command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from cerebra.providers.sse import SSEParser
from tests.cerebra.fakes.fast import start_fast
from tests.cerebra.fakes.upstreams import FakeAnthropic, FakeGemini, FakeOpenAI
from tests.cerebra.fakes.wire import Reply

ROOT = Path(__file__).resolve().parents[2]
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
ANTHROPIC_BODY = {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


async def post(
    url: str, body: dict, headers: dict | None = None, timeout: float = 5
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(url, json=body, headers=headers or {}) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


async def test_openai_auth_errors() -> None:
    with FakeOpenAI(api_key="sk-right-key") as fake:
        url = fake.base_url + "/chat/completions"
        status, _, body = await post(url, CHAT)
        assert status == 401 and orjson.loads(body)["error"]["type"] == "invalid_request_error"
        status, _, body = await post(url, CHAT, {"authorization": "Bearer sk-wrong-1234"})
        error = orjson.loads(body)["error"]
        assert status == 401 and error["code"] == "invalid_api_key" and "sk-wrong" not in error["message"]
        status, _, _ = await post(url, CHAT, {"authorization": "Bearer sk-right-key"})
        assert status == 200
        assert fake.count == 3 and len(fake.requests) == 3


async def test_anthropic_auth_and_validation() -> None:
    with FakeAnthropic(api_key="k") as fake:
        url = fake.base_url + "/v1/messages"
        status, _, body = await post(url, ANTHROPIC_BODY, {"anthropic-version": "2023-06-01"})
        assert status == 401 and orjson.loads(body)["error"]["type"] == "authentication_error"
        status, _, body = await post(url, ANTHROPIC_BODY, {"x-api-key": "k"})
        assert status == 400 and "anthropic-version" in orjson.loads(body)["error"]["message"]
        no_max = {k: v for k, v in ANTHROPIC_BODY.items() if k != "max_tokens"}
        status, _, body = await post(url, no_max, ANTHROPIC_HEADERS)
        assert status == 400 and orjson.loads(body)["error"]["message"] == "max_tokens: Field required"
        system_role = {**ANTHROPIC_BODY, "messages": [{"role": "system", "content": "x"}]}
        status, _, body = await post(url, system_role, ANTHROPIC_HEADERS)
        assert status == 400 and "top-level `system`" in orjson.loads(body)["error"]["message"]


async def test_gemini_auth_like_google() -> None:
    with FakeGemini(api_key="gk") as fake:
        url = fake.base_url + "/v1beta/models/gemini-2.0-flash:generateContent"
        status, _, body = await post(url, GEMINI_BODY)
        assert status == 403 and orjson.loads(body)["error"]["status"] == "PERMISSION_DENIED"
        status, _, body = await post(url, GEMINI_BODY, {"x-goog-api-key": "nope"})
        assert status == 400 and orjson.loads(body)["error"]["message"].startswith("API key not valid")
        status, _, body = await post(url + "?key=gk", GEMINI_BODY)
        assert status == 200 and orjson.loads(body)["candidates"][0]["finishReason"] == "STOP"


async def test_scripted_failures_then_success_are_recorded() -> None:
    with FakeOpenAI() as fake:
        fake.enqueue(
            Reply(status=500, error_message="boom"), Reply(status=429, retry_after="2"), Reply(text="ok")
        )
        url, auth = fake.base_url + "/chat/completions", {"authorization": "Bearer x"}
        results = [await post(url, CHAT, auth) for _ in range(4)]
        assert [r[0] for r in results] == [500, 429, 200, 200]
        assert orjson.loads(results[0][2])["error"]["message"] == "boom"
        assert results[1][1]["Retry-After"] == "2"
        assert orjson.loads(results[2][2])["choices"][0]["message"]["content"] == "ok"
        assert orjson.loads(results[3][2])["choices"][0]["message"]["content"] == fake.default.text
        assert [r.json["model"] for r in fake.requests] == ["gpt-4o-mini"] * 4
        assert fake.last.path == "/v1/chat/completions" and fake.last.headers["authorization"] == "Bearer x"


async def test_delay_hang_and_dropped_connections() -> None:
    with FakeAnthropic() as fake:
        url = fake.base_url + "/v1/messages"
        fake.enqueue(Reply(delay_s=1.0), Reply(hang=True), Reply(drop=True))
        with pytest.raises(TimeoutError):
            await post(url, ANTHROPIC_BODY, ANTHROPIC_HEADERS, timeout=0.1)
        with pytest.raises(TimeoutError):
            await post(url, ANTHROPIC_BODY, ANTHROPIC_HEADERS, timeout=0.1)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(url, ANTHROPIC_BODY, ANTHROPIC_HEADERS)


async def test_stream_dropped_midway_and_raw_stream() -> None:
    with FakeOpenAI() as fake:
        url, auth = fake.base_url + "/chat/completions", {"authorization": "Bearer x"}
        fake.enqueue(Reply(drop_after_events=2))
        received = b""
        with pytest.raises(aiohttp.ClientPayloadError):
            async with (
                aiohttp.ClientSession() as session,
                session.post(url, json={**CHAT, "stream": True}, headers=auth) as resp,
            ):
                async for piece in resp.content.iter_any():
                    received += piece
        assert received.count(b"data: ") == 2
        raw = [b'data: {"choices":[]', b"}\n\n", b"data: [DONE]\n\n"]
        fake.enqueue(Reply(raw_stream=raw))
        status, headers, body = await post(url, {**CHAT, "stream": True}, auth)
        assert status == 200 and headers["Content-Type"] == "text/event-stream" and body == b"".join(raw)


async def test_paced_stream_and_wire_framing() -> None:
    with FakeAnthropic() as anthropic, FakeGemini() as gemini:
        anthropic.enqueue(Reply(stream_events=20, pace_s=0.001))
        _, _, body = await post(
            anthropic.base_url + "/v1/messages", {**ANTHROPIC_BODY, "stream": True}, ANTHROPIC_HEADERS
        )
        events = SSEParser().feed(body)
        names = [e.event for e in events]
        assert names[:3] == ["message_start", "content_block_start", "ping"]
        assert names.count("content_block_delta") == 20 and names[-2:] == ["message_delta", "message_stop"]
        assert all(orjson.loads(e.data)["type"] == e.event for e in events)

        url = gemini.base_url + "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
        _, _, sse = await post(url + "?alt=sse", GEMINI_BODY, {"x-goog-api-key": "k"})
        assert (
            sse.startswith(b"data: {")
            and sse.endswith(b"}\r\n\r\n")
            and b"\n\n" not in sse.replace(b"\r\n\r\n", b"")
        )
        _, _, array = await post(url, GEMINI_BODY, {"x-goog-api-key": "k"})
        docs = orjson.loads(array)
        assert isinstance(docs, list) and docs[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_embeddings_fakes() -> None:
    with FakeOpenAI() as openai_fake, FakeGemini() as gemini:
        body = {
            "model": "text-embedding-3-small",
            "input": ["a", "b"],
            "dimensions": 4,
            "encoding_format": "base64",
        }
        _, _, data = await post(openai_fake.base_url + "/embeddings", body, {"authorization": "Bearer x"})
        doc = orjson.loads(data)
        assert [d["index"] for d in doc["data"]] == [0, 1] and isinstance(doc["data"][0]["embedding"], str)
        url = gemini.base_url + "/v1beta/models/emb:batchEmbedContents"
        batch = {"requests": [{"model": "models/other", "content": {"parts": [{"text": "a"}]}}]}
        status, _, data = await post(url, batch, {"x-goog-api-key": "k"})
        assert status == 400 and orjson.loads(data)["error"]["status"] == "INVALID_ARGUMENT"
        batch["requests"][0]["model"] = "models/emb"
        status, _, data = await post(url, batch, {"x-goog-api-key": "k"})
        assert status == 200 and len(orjson.loads(data)["embeddings"][0]["values"]) == 8


async def test_openai_fake_rejects_stream_options_without_stream() -> None:
    with FakeOpenAI(require_auth=False) as fake:
        status, _, body = await post(
            fake.base_url + "/chat/completions", {**CHAT, "stream_options": {"include_usage": True}}
        )
        assert status == 400 and "stream_options" in orjson.loads(body)["error"]["message"]


@pytest.mark.parametrize(
    ("provider", "path", "headers", "body"),
    [
        ("openai", "/v1/chat/completions", {"authorization": "Bearer x"}, CHAT),
        ("anthropic", "/v1/messages", ANTHROPIC_HEADERS, ANTHROPIC_BODY),
        ("gemini", "/v1beta/models/g:generateContent", {"x-goog-api-key": "k"}, GEMINI_BODY),
    ],
)
async def test_fast_server_answers_each_provider(provider: str, path: str, headers: dict, body: dict) -> None:
    server = await start_fast(provider, "127.0.0.1", 0, Reply(stream_events=5, pace_s=0.001))
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}{path}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):  # keep-alive: several requests on one connection
                async with session.post(url, json=body, headers=headers) as resp:
                    assert resp.status == 200 and resp.content_type == "application/json"
                    await resp.read()
            stream_url = url.replace(":generateContent", ":streamGenerateContent?alt=sse")
            async with session.post(stream_url, json={**body, "stream": True}, headers=headers) as resp:
                assert resp.content_type == "text/event-stream"
                events = SSEParser().feed(await resp.read())
            async with session.post(url, json=body) as resp:
                assert resp.status in (401, 403)
        assert sum(b"fake " in e.data or b"Hello " in e.data for e in events) == 2  # 5 deltas cycle the words
    finally:
        server.close()
        await server.wait_closed()


async def test_command_line_serves_the_fast_fake() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "tests.cerebra.fakes.upstreams",
        "--provider",
        "openai",
        "--port",
        "0",
        "--events",
        "3",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        base = line.split(" on ", 1)[1].strip()
        status, _, body = await post(
            base + "/v1/chat/completions", {**CHAT, "stream": True}, {"authorization": "Bearer x"}
        )
        assert status == 200 and body.count(b'"content":"') == 4 and body.endswith(b"data: [DONE]\n\n")
    finally:
        proc.terminate()
        proc.wait(10)
