"""OpenAI-compatible calls: /v1/chat/completions (JSON or SSE) and /v1/embeddings, translated for
whichever provider the plan picks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from cerebra.gateway.context import CallContext
from cerebra.gateway.core import Gateway
from cerebra.gateway.http import JSON_CT, Headers, Receive, Send, send_bytes, sse_error_frame
from cerebra.gateway.relay import relay
from cerebra.gateway.upstream import AllDeploymentsFailed, AttemptRecord, UpstreamResult
from cerebra.providers import ProviderError, UpstreamRequest, get_adapter
from cerebra.routing.table import Deployment
from oco.errors import ApiError

T = TypeVar("T")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def require_field(body: dict, name: str, kind: type[T], what: str) -> T:
    value = body.get(name)
    if value is None:
        raise ApiError(400, f"'{name}' is required", param=name, code="missing_required_parameter")
    if not isinstance(value, kind) or (kind is list and not value):
        raise ApiError(400, f"'{name}' must be {what}", param=name, code="invalid_type")
    return value


def failure_error(exc: AllDeploymentsFailed) -> tuple[ApiError, dict]:
    """Map a failed plan to a status: 400 when no deployment could take the request, 504 when every
    attempt timed out, 429 when every deployment was rate limited, 503 when all were cooling down,
    else 502. The extra fields list what was tried (deployment ids carry no credentials)."""
    tried = exc.tried
    outcomes = {a.outcome for a in exc.attempts}
    if not tried and exc.incompatible is not None:
        return ApiError(400, exc.incompatible.message, param=exc.incompatible.param), {}
    if exc.timed_out:
        error = ApiError(504, f"upstream timeout: {exc.last_message}", code="upstream_timeout")
    elif exc.attempts and outcomes <= {"rate_limited", "skipped_rate_limit", "skipped_incompatible"}:
        error = ApiError(
            429,
            "every deployment of this model is rate limited; retry later",
            code="rate_limited",
            headers={"retry-after": "1"},
        )
    elif exc.attempts and not tried:
        error = ApiError(
            503,
            "every deployment is cooling down or at its rate limit; retry shortly",
            code="no_healthy_deployment",
            headers={"retry-after": "5"},
        )
    elif not exc.attempts:
        error = ApiError(
            504, "the request deadline passed before any deployment was tried", code="upstream_timeout"
        )
    else:
        error = ApiError(
            502, f"all deployments failed; last error: {exc.last_message}", code="all_deployments_failed"
        )
    if exc.retry_after_s is not None and error.status in (429, 502, 503):
        error.headers["retry-after"] = str(max(1, int(exc.retry_after_s)))
    return error, {"attempts": [a.as_dict() for a in exc.attempts]}


def _tried(attempts: list[AttemptRecord]) -> int:
    """Attempts that reached a deployment (not skipped for cooldown, rate limit or incompatibility)."""
    return sum(1 for a in attempts if not a.outcome.startswith("skipped"))


def record_result(ctx: CallContext, result: UpstreamResult) -> None:
    ctx.deployment = result.deployment
    ctx.provider = result.deployment.provider
    ctx.model = result.deployment.model
    ctx.attempts = _tried(result.attempts)
    ctx.upstream_s = result.upstream_s
    ctx.waited_s = result.waited_s
    ctx.status = result.status


async def call_upstream(
    gw: Gateway,
    ctx: CallContext,
    plan: list[Deployment],
    build: Callable[[Deployment], UpstreamRequest],
    *,
    body: dict | None = None,
    admit: bool = True,
    **options: Any,
) -> UpstreamResult:
    """Run the plan (gw.upstream.call with the request deadline) and record the result on ctx; when every
    deployment failed, CallFailed with the status failure_error() picks. A key with a model allow-list
    that does not name the alias is refused here, before any provider is called."""
    if ctx.principal is not None and not ctx.principal.may_call(ctx.alias):
        raise model_not_allowed(ctx.alias)
    if admit:  # the caller's rate limits and budgets (not for unpriced helpers such as count_tokens)
        await gw.admit(ctx, body or {}, plan)
    try:
        result = await gw.upstream.call(plan, build, deadline=gw.deadline(), **options)
    except AllDeploymentsFailed as exc:
        ctx.attempts = _tried(exc.attempts)
        raise CallFailed(*failure_error(exc)) from None
    record_result(ctx, result)
    return result


def model_not_allowed(alias: str | None) -> ApiError:
    """403 for a key whose `models` allow-list does not name the alias it asked for."""
    return ApiError(
        403,
        f"this API key may not call the model '{(alias or '')[:200]}'",
        code="model_not_allowed",
        type_="permission_error",
        param="model",
    )


def _unreadable(ctx: CallContext, exc: ProviderError) -> ApiError:
    return ApiError(
        502,
        f"{ctx.provider} sent an answer that could not be read: {exc.message}",
        code="bad_upstream_response",
    )


def _builder(kind: str, body: dict, stream: bool) -> Callable[[Deployment], UpstreamRequest]:
    """Per-deployment request builder; a ProviderError makes the attempt loop skip that deployment."""

    def build(deployment: Deployment) -> UpstreamRequest:
        adapter = get_adapter(deployment.provider)
        if kind == "chat":
            return adapter.chat_request(deployment.target, body, stream)
        return adapter.embeddings_request(deployment.target, body)

    return build


def _client_error(result: UpstreamResult) -> ApiError:
    """The provider's 4xx as the caller's error: its status and (redacted) message, OpenAI's shape."""
    message = get_adapter(result.deployment.provider).error_message(result.status, result.data or b"")
    return ApiError(result.status, message, code="upstream_rejected_request")


async def chat_completions(
    gw: Gateway, ctx: CallContext, body: dict, headers: Headers, receive: Receive, send: Send
) -> None:
    """POST /v1/chat/completions (answered from the response cache when the route caches and it has
    the answer)."""
    model = require_field(body, "model", str, "a string")
    require_field(body, "messages", list, "a non-empty list of messages")
    stream = body.get("stream") is True
    ctx.alias, ctx.stream = model, stream
    plan = gw.plan(model, body)
    if gw.cache is not None and await gw.cache.answer(gw, ctx, body, headers, send):
        return
    result = await call_upstream(gw, ctx, plan, _builder("chat", body, stream), body=body, stream=stream)
    if result.client_error:
        raise _client_error(result)
    adapter = get_adapter(result.deployment.provider)
    target = result.deployment.target
    if not stream:
        try:
            payload, ctx.usage = adapter.chat_response(target, result.data or b"", body)
        except ProviderError as exc:
            raise _unreadable(ctx, exc) from None
        if ctx.cache_pending is not None:
            ctx.cache_pending.completion = payload
        await send_bytes(send, 200, payload, [JSON_CT, *ctx.response_headers()])
        return
    translator = adapter.stream_translator(target, body)
    assert result.response is not None
    transform: Callable[[bytes], bytes] = lambda chunk: b"".join(translator.feed(chunk))  # noqa: E731
    close: Callable[[], bytes] = lambda: b"".join(translator.close())  # noqa: E731
    if ctx.cache_pending is not None:  # the cache keeps what the client is sent
        transform, close = ctx.cache_pending.record_stream().tee(transform, close)
    await relay(
        ctx,
        result.response,
        transform=transform,
        close=close,
        on_error=lambda message: sse_error_frame(message) + b"data: [DONE]\n\n",
        receive=receive,
        send=send,
        status=200,
        headers=[*SSE_HEADERS, *ctx.response_headers()],
    )
    ctx.usage = translator.usage
    stream_error = getattr(translator, "error", None)
    if stream_error and ctx.status < 300:
        message = stream_error.get("message") if isinstance(stream_error, dict) else str(stream_error)
        ctx.status, ctx.error = 502, f"upstream stream error: {message}"
    if ctx.status == 502:  # broke off or sent an error event: it counts against the deployment's health
        await gw.health.record_failure(result.deployment.id)


async def embeddings(gw: Gateway, ctx: CallContext, body: dict, send: Send) -> None:
    """POST /v1/embeddings."""
    model = require_field(body, "model", str, "a string")
    value = body.get("input")
    if not isinstance(value, (str, list)) or not value:
        raise ApiError(400, "'input' must be a non-empty string or list", param="input", code="invalid_type")
    ctx.alias = model
    plan = gw.plan(model, body)
    result = await call_upstream(gw, ctx, plan, _builder("embeddings", body, False), body=body, stream=False)
    if result.client_error:
        raise _client_error(result)
    adapter = get_adapter(result.deployment.provider)
    try:
        payload, ctx.usage = adapter.embeddings_response(result.deployment.target, result.data or b"", body)
    except ProviderError as exc:
        raise _unreadable(ctx, exc) from None
    await send_bytes(send, 200, payload, [JSON_CT, *ctx.response_headers()])


class CallFailed(Exception):
    """Every deployment failed: the ApiError to send and the extra fields (what was tried)."""

    def __init__(self, error: ApiError, extra: dict) -> None:
        super().__init__(error.message)
        self.error = error
        self.extra = extra


def decode_json_body(raw: bytes) -> dict:
    """The request body as a JSON object, or a 400 naming the problem."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", code="invalid_json")
    return body
