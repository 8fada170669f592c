"""The /v1/responses handlers on the gateway's hot path (bare ASGI, bodies as dicts): create (JSON or SSE)
through the chat pipeline's plan, attempts, pricing and log; retrieve and delete stored responses.
A deployment of OpenAI gets the request natively (no translation); any other gets it as chat."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from cerebra.dialects.responses.native import NativeResponsesTap, expanded_input, response_usage
from cerebra.dialects.responses.request import input_items, to_chat, validate
from cerebra.dialects.responses.response import from_chat, listed_item, new_id, with_id
from cerebra.dialects.responses.store import ResponseStore
from cerebra.dialects.responses.stream import ResponsesStream
from cerebra.gateway.chat import SSE_HEADERS, call_upstream
from cerebra.gateway.context import CallContext
from cerebra.gateway.core import Gateway
from cerebra.gateway.http import JSON_CT, Headers, Receive, Send, send_bytes, send_json
from cerebra.gateway.relay import relay
from cerebra.gateway.upstream import UpstreamResult
from cerebra.providers import ProviderError, UpstreamRequest, get_adapter
from cerebra.routing.table import Deployment
from oco.errors import ApiError

NATIVE = "openai"  # the provider that speaks the Responses API itself


def _invalid(exc: ProviderError) -> ApiError:
    return ApiError(400, exc.message, param=exc.param, code="invalid_request")


def not_found(response_id: str) -> ApiError:
    return ApiError(
        404,
        f"No response found with id '{response_id[:100]}'.",
        param="response_id",
        code="response_not_found",
    )


class ResponsesCall:
    """One POST /v1/responses: the request, its conversation, and the chat body when a deployment needs it."""

    def __init__(self, body: dict, history: list[dict] | None, previous_missing: bool) -> None:
        self.body = body
        self.stream = body.get("stream") is True
        self.store = body.get("store", True) is not False
        self.items = [with_id(item) for item in input_items(body)]
        self.history = history
        self.previous_missing = previous_missing
        self.response_id = new_id("resp_")
        self.chat: dict | None = None
        self.chat_error: ProviderError | None = None
        try:
            self.chat = to_chat(body, [*(history or []), *self.items], self.stream)
        except ProviderError as exc:  # fine for an OpenAI deployment; the others answer 400 with it
            self.chat_error = exc

    def conversation(self) -> list[dict]:
        return [*(self.history or []), *self.items]

    def builder(self, headers: Headers, previous_deployment: str | None) -> Any:
        def build(deployment: Deployment) -> UpstreamRequest:
            target = deployment.target
            if deployment.provider == NATIVE:
                doc = self.body
                if self.history is not None and previous_deployment != deployment.id:
                    # answered elsewhere: this deployment cannot know the id, so it gets the conversation
                    doc = {k: v for k, v in doc.items() if k != "previous_response_id"}
                    doc["input"] = expanded_input(self.conversation())
                payload = orjson.dumps({**doc, "model": target.model})
                return get_adapter(NATIVE).native_request(
                    target, "responses", "", headers.values, payload, "POST"
                )
            if self.previous_missing:
                raise ProviderError(
                    f"Previous response with id '{self.body['previous_response_id']}' not found.",
                    "previous_response_id",
                )
            if self.chat_error is not None:
                raise self.chat_error
            assert self.chat is not None
            return get_adapter(deployment.provider).chat_request(target, self.chat, self.stream)

        return build


async def create_response(
    gw: Gateway,
    store: ResponseStore,
    ctx: CallContext,
    body: dict,
    headers: Headers,
    receive: Receive,
    send: Send,
) -> None:
    """POST /v1/responses."""
    try:
        validate(body)
        previous_id = body.get("previous_response_id")
        previous = None
        if previous_id:
            assert ctx.principal is not None
            previous = await store.get(previous_id, ctx.principal.key_id)
        call = ResponsesCall(
            body, previous.conversation() if previous else None, bool(previous_id) and not previous
        )
    except ProviderError as exc:
        raise _invalid(exc) from None
    ctx.alias, ctx.stream = body["model"], call.stream
    plan = gw.plan(body["model"], call.chat or body)
    build = call.builder(headers, previous.deployment_id if previous else None)
    result = await call_upstream(gw, ctx, plan, build, body=call.chat or body, stream=call.stream)
    native = result.deployment.provider == NATIVE
    if result.client_error and not native:
        message = get_adapter(result.deployment.provider).error_message(result.status, result.data or b"")
        raise ApiError(result.status, message, code="upstream_rejected_request")
    if call.stream and result.response is not None:
        await (_relay_native if native else _relay_translated)(gw, store, ctx, call, result, receive, send)
    elif native:
        await _answer_native(store, ctx, call, result, send)
    else:
        await _answer_translated(store, ctx, call, result, send)


def _save(
    store: ResponseStore, ctx: CallContext, call: ResponsesCall, response: dict, deployment: Deployment
) -> None:
    if call.store and isinstance(response.get("id"), str) and response.get("status") != "failed":
        assert ctx.principal is not None
        store.save(store.record(response, ctx.principal.key_id, call.conversation(), deployment.id))


async def _answer_native(
    store: ResponseStore, ctx: CallContext, call: ResponsesCall, result: UpstreamResult, send: Send
) -> None:
    data = result.data or b""
    if result.status < 300:
        doc = orjson.loads(data) if data else {}
        ctx.usage = response_usage(doc.get("usage") if isinstance(doc, dict) else None)
        if isinstance(doc, dict):
            _save(store, ctx, call, doc, result.deployment)
    else:
        ctx.error = get_adapter(NATIVE).error_message(result.status, data)
    content_type = (result.content_type or "application/json").encode()
    await send_bytes(send, result.status, data, [(b"content-type", content_type), *ctx.response_headers()])


async def _answer_translated(
    store: ResponseStore, ctx: CallContext, call: ResponsesCall, result: UpstreamResult, send: Send
) -> None:
    adapter = get_adapter(result.deployment.provider)
    assert call.chat is not None
    try:
        payload, ctx.usage = adapter.chat_response(result.deployment.target, result.data or b"", call.chat)
    except ProviderError as exc:
        raise ApiError(
            502,
            f"{ctx.provider} sent an answer that could not be read: {exc.message}",
            code="bad_upstream_response",
        ) from None
    response = from_chat(call.response_id, call.body, orjson.loads(payload), ctx.usage)
    _save(store, ctx, call, response, result.deployment)
    await send_bytes(send, 200, orjson.dumps(response), [JSON_CT, *ctx.response_headers()])


async def _relay_translated(
    gw: Gateway,
    store: ResponseStore,
    ctx: CallContext,
    call: ResponsesCall,
    result: UpstreamResult,
    receive: Receive,
    send: Send,
) -> None:
    assert call.chat is not None and result.response is not None
    chat = get_adapter(result.deployment.provider).stream_translator(result.deployment.target, call.chat)
    events = ResponsesStream(chat, call.response_id, call.body)
    await relay(
        ctx,
        result.response,
        transform=events.feed,
        close=events.close,
        on_error=events.fail,
        receive=receive,
        send=send,
        status=200,
        headers=[*SSE_HEADERS, *ctx.response_headers()],
    )
    ctx.usage = events.usage
    if events.failed is not None and ctx.status < 300:
        ctx.status, ctx.error = 502, f"upstream stream error: {events.failed}"
    if ctx.status == 502:
        await gw.health.record_failure(result.deployment.id)
    elif ctx.status < 300:
        _save(store, ctx, call, events.response, result.deployment)


async def _relay_native(
    gw: Gateway,
    store: ResponseStore,
    ctx: CallContext,
    call: ResponsesCall,
    result: UpstreamResult,
    receive: Receive,
    send: Send,
) -> None:
    assert result.response is not None
    tap = NativeResponsesTap()

    def transform(chunk: bytes) -> bytes:
        tap.feed(chunk)
        return chunk

    await relay(
        ctx,
        result.response,
        transform=transform,
        close=tap.close,
        on_error=tap.broken,
        receive=receive,
        send=send,
        status=result.status,
        headers=[*SSE_HEADERS, *ctx.response_headers()],
    )
    ctx.usage = tap.usage
    if ctx.status == 502:  # broke off: it counts against the deployment's health, as for chat
        await gw.health.record_failure(result.deployment.id)
    if tap.response is not None and ctx.status < 300:
        _save(store, ctx, call, tap.response, result.deployment)


async def stored_route(
    store: ResponseStore, ctx: CallContext, method: str, rest: str, query: str, send: Send
) -> None:
    """GET/DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items."""
    response_id, _, sub = rest.partition("/")
    if sub == "input_items" and method == "GET":
        await list_input_items(store, ctx, response_id, query, send)
    elif sub:
        raise ApiError(404, f"unknown route /v1/responses/{rest[:100]}", code="unknown_route")
    elif method == "GET":
        await retrieve_response(store, ctx, response_id, send)
    else:
        await delete_response(store, ctx, response_id, send)


async def list_input_items(
    store: ResponseStore, ctx: CallContext, response_id: str, query: str, send: Send
) -> None:
    """GET /v1/responses/{id}/input_items: the conversation the response answered (earlier turns included),
    as OpenAI's cursor page (`limit` 1-100, default 20; `order` desc by default; `after` an item id)."""
    assert ctx.principal is not None
    stored = await store.get(response_id, ctx.principal.key_id)
    if stored is None:
        raise not_found(response_id)
    params = dict(parse_qsl(query))
    order = params.get("order", "desc")
    limit = params.get("limit", "20")
    if order not in ("asc", "desc"):
        raise ApiError(400, "order must be asc or desc", param="order", code="invalid_value")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise ApiError(400, "limit must be an integer from 1 to 100", param="limit", code="invalid_value")
    items = [listed_item(item) for item in stored.input]
    if order == "desc":
        items.reverse()
    after = params.get("after")
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[: int(limit)]
    await send_json(
        send,
        200,
        {
            "object": "list",
            "data": page,
            "first_id": page[0].get("id") if page else None,
            "last_id": page[-1].get("id") if page else None,
            "has_more": len(items) > len(page),
        },
    )


async def retrieve_response(store: ResponseStore, ctx: CallContext, response_id: str, send: Send) -> None:
    """GET /v1/responses/{id}: this key's stored response."""
    assert ctx.principal is not None
    stored = await store.get(response_id, ctx.principal.key_id)
    if stored is None:
        raise not_found(response_id)
    await send_json(send, 200, stored.response)


async def delete_response(store: ResponseStore, ctx: CallContext, response_id: str, send: Send) -> None:
    """DELETE /v1/responses/{id}: forget this key's stored response."""
    assert ctx.principal is not None
    if not await store.delete(response_id, ctx.principal.key_id):
        raise not_found(response_id)
    await send_json(send, 200, {"id": response_id, "object": "response", "deleted": True})
