"""Relaying an upstream stream to the client: frames out as they come, the upstream connection closed
when the client goes away, and an SSE error event (not a retry) when the upstream breaks mid-stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp

from cerebra.gateway.context import CallContext
from cerebra.gateway.http import Receive, Send
from cerebra.providers.sse import SSEEventTooLarge

#: what a stream's close() gives when the upstream sent no event at all (OpenAI's end marker, or nothing)
EMPTY_TAILS = (b"", b"data: [DONE]")


async def relay(
    ctx: CallContext,
    response: aiohttp.ClientResponse,
    transform: Callable[[bytes], bytes],
    close: Callable[[], bytes],
    on_error: Callable[[str], bytes],
    receive: Receive,
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
) -> None:
    """Stream `response` through `transform` (upstream bytes -> client bytes) to the client."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    task = asyncio.current_task()
    state = {"disconnected": False, "finished": False}

    async def watch_disconnect() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not state["finished"] and task is not None:
                    state["disconnected"] = True
                    task.cancel()
                return

    watcher = asyncio.create_task(watch_disconnect())
    first = True
    secret = _own_key(ctx)
    try:
        try:
            async for chunk in response.content.iter_any():
                out = transform(chunk)
                if secret is not None and secret in out:  # an upstream event echoing our provider key
                    out = out.replace(secret, b"[redacted]")
                if out:
                    if first:
                        ctx.ttft_ms = int((time.perf_counter() - ctx.started) * 1000)
                        first = False
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            tail = close()
            if first and tail.strip() in EMPTY_TAILS:  # a 2xx, then nothing a client could read
                ctx.status = 502
                ctx.error = "upstream stream ended without any event"
                tail = on_error(f"{ctx.provider} stream ended without any event")
        except (aiohttp.ClientError, TimeoutError, SSEEventTooLarge) as exc:
            ctx.status = 502
            ctx.error = f"upstream stream broke off: {type(exc).__name__}"
            tail = on_error(f"{ctx.provider} stream broke off ({type(exc).__name__})")
        if secret is not None and secret in tail:
            tail = tail.replace(secret, b"[redacted]")
        state["finished"] = True
        await send({"type": "http.response.body", "body": tail, "more_body": False})
    except asyncio.CancelledError:
        if not state["disconnected"]:
            raise
        if task is not None:
            task.uncancel()
        ctx.status = 499
        ctx.error = "client disconnected mid-stream"
    finally:
        watcher.cancel()
        response.close()  # closes the upstream connection: the provider stops generating


def _own_key(ctx: CallContext) -> bytes | None:
    """The deployment's provider key, to scrub from relayed frames (translators emit whole frames, so a
    key is never split between two of them); None when there is none worth matching."""
    key = ctx.deployment.target.api_key if ctx.deployment is not None else None
    return key.encode() if key and len(key) >= 8 else None
