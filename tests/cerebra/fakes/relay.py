"""Test helpers: play translated frames to the official openai SDK over loopback, and feed a stream
translator byte splits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import orjson
from aiohttp import web

from cerebra.providers.base import StreamTranslator


def translate_all(translator: StreamTranslator, data: bytes, step: int | None = None) -> list[bytes]:
    """Feed `data` in pieces of `step` bytes (all at once when None); return every frame incl. close()."""
    frames: list[bytes] = []
    if step is None:
        frames += translator.feed(data)
    else:
        for i in range(0, len(data), step):
            frames += translator.feed(data[i : i + step])
    return frames + translator.close()


def frame_docs(frames: list[bytes]) -> list[dict | str]:
    """Parse `data: ...\\n\\n` frames (asserting the framing); [DONE] stays the string "[DONE]"."""
    out: list[dict | str] = []
    for frame in frames:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n") and b"\n\n" not in frame[:-2], frame
        payload = frame[6:-2]
        out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return out


@contextlib.asynccontextmanager
async def openai_sse_server(make_frames: Callable[[dict], list[bytes]]) -> AsyncIterator[str]:
    """An OpenAI-shaped /v1/chat/completions that streams `make_frames(request_json)`; yields base_url."""

    async def chat(request: web.Request) -> web.StreamResponse:
        frames = make_frames(await request.json())
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for frame in frames:
            await resp.write(frame)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        await runner.cleanup()
