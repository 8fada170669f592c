"""The hot-path handlers of the Anthropic dialect (dispatched by cerebra/gateway/asgi.py, outside FastAPI
routing): POST /v1/messages, POST /v1/messages/count_tokens, and /v1/models in Anthropic's shape.

An alias's Anthropic deployments get the caller's body natively (byte for byte but the model); every
other deployment gets the canonical chat request through its provider adapter, with the chat pipeline's
routing, retries, fallbacks, pricing and request log (cerebra.gateway.chat.call_upstream, CallContext)."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

import orjson

from cerebra.dialects.anthropic import passthrough
from cerebra.dialects.anthropic.errors import error_body
from cerebra.dialects.anthropic.request import Translation, for_provider, to_chat
from cerebra.dialects.anthropic.response import to_message
from cerebra.dialects.anthropic.stream import AnthropicEventWriter, error_event
from cerebra.gateway.chat import SSE_HEADERS, call_upstream, decode_json_body
from cerebra.gateway.context import CallContext
from cerebra.gateway.core import Gateway
from cerebra.gateway.http import JSON_CT, Headers, Receive, Send, send_bytes, send_json
from cerebra.gateway.native import MODEL_NAME
from cerebra.gateway.relay import relay
from cerebra.gateway.upstream import UpstreamResult
from cerebra.providers import ProviderError, UpstreamRequest, get_adapter
from cerebra.routing.table import Deployment
from oco.errors import ApiError

log = logging.getLogger("cerebra.dialects.anthropic")
ROUTES = ("messages", "messages/count_tokens")
IMAGE_TOKENS = 1600  # Anthropic's cost of an image at its default maximum size, used by the estimate


def _model(doc: dict) -> str:
    model = doc.get("model")
    if not isinstance(model, str) or not MODEL_NAME.match(model):
        raise ApiError(400, "model: a name of 1 to 200 printable characters is required", param="model")
    return model


class _Call:
    """One /v1/messages call: the caller's body, its translation (made once, lazily) and what each
    deployment was sent."""

    def __init__(
        self,
        raw: bytes,
        doc: dict,
        model: str,
        stream: bool,
        headers: Headers,
        query: str,
        counting: bool = False,
    ) -> None:
        self.raw, self.doc, self.model, self.stream = raw, doc, model, stream
        self.headers, self.query = headers, query
        self.translation: Translation | None = None
        self.translation_error: ApiError | None = None
        self.sent: dict[str, tuple[dict, list[str]]] = {}  # deployment id -> (canonical body, dropped)
        try:
            self.translation = to_chat(doc, stream, counting)
        except ApiError as exc:  # only fatal when a non-Anthropic deployment must take the call
            self.translation_error = exc

    def plan_body(self) -> dict:
        return self.translation.body if self.translation is not None else {"messages": []}

    def build(self, deployment: Deployment, subpath: str = "v1/messages") -> UpstreamRequest:
        adapter = get_adapter(deployment.provider)
        if deployment.provider == "anthropic":
            native_body = passthrough.splice_model(self.raw, self.model, deployment.model)
            return adapter.native_request(
                deployment.target, subpath, self.query, self.headers.values, native_body, "POST"
            )
        if self.translation is None:
            error = self.translation_error or ApiError(400, "invalid request")
            raise ProviderError(error.message, error.param)
        body, dropped = for_provider(self.translation, deployment.provider)
        self.sent[deployment.id] = (body, dropped)
        return adapter.chat_request(deployment.target, body, self.stream)


async def messages(
    gw: Gateway, ctx: CallContext, headers: Headers, query: str, raw: bytes, receive: Receive, send: Send
) -> None:
    """POST /v1/messages."""
    doc = decode_json_body(raw)
    model = _model(doc)
    stream = doc.get("stream") is True
    ctx.alias, ctx.stream = model, stream
    call = _Call(raw, doc, model, stream, headers, query)
    plan = gw.plan(model, call.plan_body())
    result = await call_upstream(gw, ctx, plan, call.build, body=doc, stream=stream)
    deployment = result.deployment
    if deployment.provider == "anthropic":
        await passthrough.answer(ctx, result, stream, receive, send)
        return
    body, dropped = call.sent[deployment.id]
    extra = [(b"x-oco-dropped", ", ".join(dropped).encode())] if dropped else []
    if dropped:
        log.info("anthropic dialect: not sent to %s: %s", deployment.provider, ", ".join(dropped))
    adapter = get_adapter(deployment.provider)
    if result.client_error:
        message = adapter.error_message(result.status, result.data or b"")
        raise ApiError(result.status, message, code="upstream_rejected_request")
    stops = body.get("stop")
    if not stream:
        try:
            payload, ctx.usage = adapter.chat_response(deployment.target, result.data or b"", body)
            answer = to_message(payload, deployment.model, ctx.usage, stops)
        except (ProviderError, orjson.JSONDecodeError) as exc:
            text = exc.message if isinstance(exc, ProviderError) else "not JSON"
            raise ApiError(
                502, f"{deployment.provider} sent an answer that could not be read: {text}"
            ) from None
        await send_json(send, 200, answer, [*ctx.response_headers(), *extra])
        return
    await _stream(gw, ctx, result, body, stops, extra, receive, send)


async def _stream(
    gw: Gateway,
    ctx: CallContext,
    result: UpstreamResult,
    body: dict,
    stops: list[str] | None,
    extra: list[tuple[bytes, bytes]],
    receive: Receive,
    send: Send,
) -> None:
    deployment = result.deployment
    translator = get_adapter(deployment.provider).stream_translator(deployment.target, body)
    writer = AnthropicEventWriter(deployment.model, stops, lambda: translator.usage)
    assert result.response is not None
    await relay(
        ctx,
        result.response,
        transform=lambda chunk: writer.feed(translator.feed(chunk)),
        close=lambda: writer.close(translator.close()),
        on_error=error_event,
        receive=receive,
        send=send,
        status=200,
        headers=[*SSE_HEADERS, *ctx.response_headers(), *extra],
    )
    ctx.usage = translator.usage
    problem = writer.error or (
        (translator.error or {}).get("message") if isinstance(translator.error, dict) else translator.error
    )
    if problem and ctx.status < 300:
        ctx.status, ctx.error = 502, f"upstream stream error: {problem}"
    if ctx.status == 502:  # broke off or sent an error event: it counts against the deployment's health
        await gw.health.record_failure(deployment.id)


async def count_tokens(
    gw: Gateway, ctx: CallContext, headers: Headers, query: str, raw: bytes, receive: Receive, send: Send
) -> None:
    """POST /v1/messages/count_tokens: Anthropic's own count when the alias's first deployment is
    Anthropic's, else an estimate (x-oco-token-count: estimate). Never priced."""
    doc = decode_json_body(raw)
    model = _model(doc)
    ctx.alias = model
    call = _Call(raw, doc, model, False, headers, query, counting=True)
    plan = gw.plan(model, call.plan_body())
    if plan[0].provider == "anthropic":
        native = [d for d in plan if d.provider == "anthropic"]
        result = await call_upstream(
            gw, ctx, native, lambda d: call.build(d, "v1/messages/count_tokens"), admit=False, stream=False
        )
        await passthrough.answer(ctx, result, False, receive, send, priced=False)
        return
    if call.translation is None:
        raise call.translation_error or ApiError(400, "invalid request")
    estimate = estimate_tokens(call.translation.body)
    ctx.deployment, ctx.provider, ctx.model = plan[0], plan[0].provider, plan[0].model
    headers_out = [JSON_CT, (b"x-oco-token-count", b"estimate"), *ctx.response_headers()]
    await send_bytes(send, 200, orjson.dumps({"input_tokens": estimate}), headers_out)


def estimate_tokens(body: dict) -> int:
    """About 4 characters a token over the text of the messages and the tool definitions, plus
    IMAGE_TOKENS per image or document: an estimate, not the target tokenizer's count."""
    chars, media = 0, 0
    for message in body.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    chars += len(part.get("text") or "")
                else:
                    media += 1
        for call in message.get("tool_calls") or ():
            chars += len(call["function"]["name"]) + len(call["function"].get("arguments") or "")
        chars += 12  # role and message framing
    if body.get("tools"):
        chars += len(orjson.dumps(body["tools"]))
    return math.ceil(chars / 4) + media * IMAGE_TOKENS


# ---------------------------------------------------------------------------------- /v1/models


EPOCH = datetime(1970, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def model_info(model: dict) -> dict:
    """A gateway model entry in Anthropic's ModelInfo shape."""
    return {
        "type": "model",
        "id": model["id"],
        "display_name": model["id"],
        "created_at": EPOCH,
        "lifecycle": "active",
    }


def models_page(models: list[dict], query: str) -> dict:
    """Anthropic's list shape with its cursor parameters (limit 1-1000, default 20; after_id; before_id)."""
    params = dict(p.partition("=")[::2] for p in query.split("&") if p)
    limit_text = params.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise ApiError(400, "limit must be an integer from 1 to 1000", param="limit")
    limit = int(limit_text)
    ids = [m["id"] for m in models]
    start, stop = 0, len(models)
    if params.get("after_id") in ids:
        start = ids.index(params["after_id"]) + 1
    if params.get("before_id") in ids:
        stop = ids.index(params["before_id"])
        start = max(start, stop - limit) if "after_id" not in params else start
    page = [model_info(m) for m in models[start:stop][:limit]]
    return {
        "data": page,
        "has_more": start + len(page) < stop,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


async def send_models(send: Send, models: list[dict], model_id: str | None, query: str) -> None:
    """GET /v1/models or /v1/models/{id} for a caller that sent `anthropic-version`."""
    if model_id is None:
        await send_json(send, 200, models_page(models, query))
        return
    match = [m for m in models if m["id"] == model_id]
    if not match:
        body = error_body(404, f"model: {model_id[:200]}")
        await send_bytes(send, 404, body, [JSON_CT])
        return
    await send_json(send, 200, model_info(match[0]))
