"""Native pass-through: /v1/openai/*, /v1/anthropic/* and /v1/gemini/* accept each provider's own API
(so its official SDK works with base_url set to cerebra). The caller's OCO key is swapped for the
provider key; the body is forwarded as-is except for the model; usage is read for pricing and logging."""

from __future__ import annotations

import re

import orjson

from cerebra.gateway.chat import call_upstream
from cerebra.gateway.context import CallContext
from cerebra.gateway.core import Gateway
from cerebra.gateway.http import Headers, Receive, Send, send_bytes, sse_error_frame
from cerebra.gateway.relay import relay
from cerebra.gateway.upstream import NATIVE_PASS_THROUGH
from cerebra.providers import UpstreamRequest, get_adapter
from cerebra.routing.table import Deployment
from oco.errors import ApiError

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}"
# Inference endpoints only: files, batches, fine-tuning and the like are not served through the gateway
# (they are not priced, and the gateway's provider key must not reach them).
ALLOWED_PATHS = {
    "openai": re.compile(rf"^(chat/completions|completions|embeddings|responses|models|models/{_NAME})$"),
    "anthropic": re.compile(rf"^v1/(messages|messages/count_tokens|models|models/{_NAME})$"),
    "gemini": re.compile(
        rf"^(v1|v1beta|v1alpha)/(models|models/{_NAME}"
        r"|models/"
        + _NAME
        + r":(generateContent|streamGenerateContent|embedContent|batchEmbedContents|countTokens))$"
    ),
}
GEMINI_MODEL = re.compile(rf"^(?:v1beta|v1|v1alpha)/models/({_NAME}):([A-Za-z]+)$")
MODEL_NAME = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII: safe in headers, logs and URLs


def checked_subpath(provider: str, subpath: str) -> str:
    """The sub-path when it is an allowed inference endpoint, else 404 (no traversal, no other APIs)."""
    if not ALLOWED_PATHS[provider].match(subpath):
        raise ApiError(
            404, f"/v1/{provider}/{subpath[:100]} is not served by this gateway", code="unknown_route"
        )
    return subpath


def _model_and_stream(provider: str, subpath: str, body: bytes) -> tuple[str | None, bool, dict]:
    if provider == "gemini":
        match = GEMINI_MODEL.match(subpath)
        if not match:
            return None, False, {}
        return match.group(1), match.group(2) == "streamGenerateContent", {}
    if not body:
        return None, False, {}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "request body is not valid JSON", code="invalid_json") from None
    if not isinstance(doc, dict):
        return None, False, {}
    model = doc.get("model")
    if model is not None and (not isinstance(model, str) or not MODEL_NAME.match(model)):
        raise ApiError(400, "model must be a name of 1 to 200 printable characters", param="model")
    return model, doc.get("stream") is True, doc


def _ask_for_usage(provider: str, subpath: str, stream: bool, doc: dict, body: bytes) -> bytes:
    """Native OpenAI chat streams: request usage upstream even when the caller did not (it is stripped
    from the caller's stream again), so the call is priced."""
    if provider != "openai" or not stream or subpath != "chat/completions":
        return body
    options = doc.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        return body
    return orjson.dumps(
        {**doc, "stream_options": {**(options if isinstance(options, dict) else {}), "include_usage": True}}
    )


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
    subpath = checked_subpath(provider, subpath)
    model, stream, doc = _model_and_stream(provider, subpath, body)
    upstream_body = _ask_for_usage(provider, subpath, stream, doc, body)
    ctx.stream = stream
    table = gw.routes.current()
    if model is not None and (model == "auto" or table.route_for(model) is not None):
        ctx.alias = model
        plan = gw.plan(model, doc, provider=provider)
    else:
        plan = [table.direct_deployment(provider, model or "")]
        ctx.alias = None

    def build(deployment: Deployment) -> UpstreamRequest:
        return adapter.native_request(
            deployment.target, subpath, query, headers.values, upstream_body, method
        )

    # a Gemini stream without ?alt=sse is a JSON array, not an event stream: any other stream must be SSE
    event_stream = stream and (provider != "gemini" or "alt=sse" in query)
    result = await call_upstream(
        gw,
        ctx,
        plan,
        build,
        body=doc,
        stream=stream,
        pass_through=NATIVE_PASS_THROUGH,
        event_stream=event_stream,
    )
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
    if upstream_body is not body:  # usage was asked for on the caller's behalf: strip it again
        translator = adapter.stream_translator(result.deployment.target, doc)
        transform = lambda chunk: b"".join(translator.feed(chunk))  # noqa: E731
        close = lambda: b"".join(translator.close())  # noqa: E731
        usage = lambda: translator.usage  # noqa: E731
    else:
        tap = adapter.native_stream_usage()

        def transform(chunk: bytes) -> bytes:
            tap.feed(chunk)
            return chunk

        close = lambda: _close_tap(tap)  # noqa: E731
        usage = lambda: tap.usage  # noqa: E731

    await relay(
        ctx,
        result.response,
        transform=transform,
        close=close,
        on_error=lambda message: _native_error_event(provider, message),
        receive=receive,
        send=send,
        status=result.status,
        headers=[(b"content-type", content_type), (b"cache-control", b"no-cache"), *ctx.response_headers()],
    )
    ctx.usage = usage()
    if ctx.status == 502:  # broke off or sent nothing: it counts against the deployment's health
        await gw.health.record_failure(result.deployment.id)


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
