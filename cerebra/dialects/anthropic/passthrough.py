"""Native pass-through to Anthropic deployments: the caller's body goes upstream byte for byte (only the
model name is spliced in when the alias differs), and the answer comes back as Anthropic sent it."""

from __future__ import annotations

import re

import orjson

from cerebra.dialects.anthropic.errors import error_body
from cerebra.gateway.context import CallContext
from cerebra.gateway.http import Receive, Send, send_bytes
from cerebra.gateway.relay import relay
from cerebra.gateway.upstream import UpstreamResult
from cerebra.providers import get_adapter
from cerebra.providers.base import replace_json_model


def splice_model(body: bytes, alias: str, model: str) -> bytes:
    """`body` with its top-level "model" set to `model`, every other byte unchanged (signatures,
    cache_control, key order and whitespace kept); re-encoded only when the splice is ambiguous."""
    if alias == model:
        return body
    pattern = re.compile(rb'"model"\s*:\s*' + re.escape(orjson.dumps(alias)))
    matches = list(pattern.finditer(body))
    if len(matches) == 1:
        found = matches[0]
        out = body[: found.start()] + b'"model":' + orjson.dumps(model) + body[found.end() :]
        doc = orjson.loads(out)
        if isinstance(doc, dict) and doc.get("model") == model:
            return out
    return replace_json_model(body, model)


def _tail_event(message: str) -> bytes:
    return b"event: error\ndata: " + error_body(502, message) + b"\n\n"


async def answer(
    ctx: CallContext, result: UpstreamResult, stream: bool, receive: Receive, send: Send, priced: bool = True
) -> None:
    """Send an Anthropic deployment's answer unchanged; read its usage for pricing (when `priced`)."""
    adapter = get_adapter("anthropic")
    content_type = (result.content_type or "application/json").encode()
    if not stream or result.response is None:
        data = result.data or b""
        if result.status >= 300:
            ctx.error = adapter.error_message(result.status, data)
        elif priced:
            ctx.usage = adapter.native_usage(data)
        await send_bytes(
            send, result.status, data, [(b"content-type", content_type), *ctx.response_headers()]
        )
        return
    tap = adapter.native_stream_usage()

    def transform(chunk: bytes) -> bytes:
        tap.feed(chunk)
        return chunk

    def close() -> bytes:
        tap.close()  # type: ignore[attr-defined]
        return b""

    await relay(
        ctx,
        result.response,
        transform=transform,
        close=close,
        on_error=_tail_event,
        receive=receive,
        send=send,
        status=result.status,
        headers=[(b"content-type", content_type), (b"cache-control", b"no-cache"), *ctx.response_headers()],
    )
    ctx.usage = tap.usage
