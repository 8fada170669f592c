"""Native pass-through: /v1/openai/*, /v1/anthropic/* and /v1/gemini/* accept each provider's own API
(so its official SDK works with base_url set to cerebra). The caller's OCO key is swapped for the
provider key; the body is forwarded as-is except for the model; usage is read for pricing and logging."""

from __future__ import annotations

import re

import orjson

from cerebra.gateway.chat import CallFailed, failure_error, record_result
from cerebra.gateway.context import CallContext
from cerebra.gateway.core import Gateway
from cerebra.gateway.http import Headers, Receive, Send, send_bytes, sse_error_frame
from cerebra.gateway.relay import relay
from cerebra.gateway.upstream import AllDeploymentsFailed
from cerebra.providers import get_adapter
from cerebra.routing.table import Deployment
from oco.errors import ApiError

GEMINI_MODEL = re.compile(r"^(v1beta|v1|v1alpha)/models/([^/:]+):([A-Za-z]+)$")


def _model_and_stream(provider: str, subpath: str, body: bytes) -> tuple[str | None, bool, dict]:
    if provider == "gemini":
        match = GEMINI_MODEL.match(subpath)
        if not match:
            return None, False, {}
        return match.group(2), match.group(3) == "streamGenerateContent", {}
    if not body:
        return None, False, {}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "request body is not valid JSON", code="invalid_json") from None
    if not isinstance(doc, dict):
        return None, False, {}
    model = doc.get("model")
    return (model if isinstance(model, str) else None), doc.get("stream") is True, doc


async def native(
    gw: Gateway,
    ctx: CallContext,
    provider: str,
    subpath: str,
    query: str,
    method: str,
    headers: Headers,
    body: bytes,
    receive: Receive,
    send: Send,
) -> None:
    """Forward one native call through the plan of its model."""
    adapter = get_adapter(provider)
    model, stream, doc = _model_and_stream(provider, subpath, body)
    ctx.stream = stream
    table = gw.routes.current()
    if model is not None and (model in table.routes or model == "auto"):
        ctx.alias = model
        plan = gw.plan(model, doc, provider=provider)
    else:
        plan = [table.direct_deployment(provider, model or "")]
        ctx.alias = None

    def build(deployment: Deployment):  # type: ignore[no-untyped-def]
        return adapter.native_request(deployment.target, subpath, query, headers.values, body, method)

    try:
        result = await gw.upstream.call(plan, build, stream=stream, deadline=gw.deadline())
    except AllDeploymentsFailed as exc:
        ctx.attempts = sum(1 for a in exc.attempts if not a.outcome.startswith("skipped"))
        raise CallFailed(*failure_error(exc)) from None
    record_result(ctx, result)
    content_type = (result.content_type or "application/json").encode()
    if not stream or result.response is None:
        data = result.data or b""
        if result.status < 300:
            ctx.usage = adapter.native_usage(data)
        else:
            ctx.error = adapter.error_message(result.status, data)
        await send_bytes(
            send, result.status, data, [(b"content-type", content_type), *ctx.response_headers()]
        )
        return
    tap = adapter.native_stream_usage()

    def passthrough(chunk: bytes) -> bytes:
        tap.feed(chunk)
        return chunk

    await relay(
        ctx,
        result.response,
        transform=passthrough,
        close=lambda: _close_tap(tap),
        on_error=lambda message: _native_error_event(provider, message),
        receive=receive,
        send=send,
        status=result.status,
        headers=[(b"content-type", content_type), (b"cache-control", b"no-cache"), *ctx.response_headers()],
    )
    ctx.usage = tap.usage


def _close_tap(tap: object) -> bytes:
    """Let a usage tap read what only the end of a stream tells (Gemini's JSON-array streams)."""
    close = getattr(tap, "close", None)
    if close is not None:
        close()
    return b""


def _native_error_event(provider: str, message: str) -> bytes:
    if provider == "anthropic":
        payload = orjson.dumps({"type": "error", "error": {"type": "api_error", "message": message}})
        return b"event: error\ndata: " + payload + b"\n\n"
    return sse_error_frame(message)
