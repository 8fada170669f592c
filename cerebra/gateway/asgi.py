"""The bare ASGI app for everything under /v1: authenticates (X-API-Key or Bearer, cached), dispatches by
path, and turns every failure into the caller's dialect's error shape (OpenAI's; Anthropic's on the
Anthropic routes). Each authenticated call leaves one row in the
request log, whatever happened to it."""

from __future__ import annotations

import logging

from starlette.types import Message, Scope

from cerebra.dialects.anthropic import endpoints as anthropic_dialect
from cerebra.dialects.anthropic import errors as anthropic_errors
from cerebra.dialects.responses import endpoints as responses
from cerebra.gateway.chat import CallFailed, chat_completions, decode_json_body, embeddings
from cerebra.gateway.context import CallContext
from cerebra.gateway.core import Gateway
from cerebra.gateway.http import Headers, Receive, Send, read_body, send_error, send_json
from cerebra.gateway.native import native
from cerebra.providers import NATIVE_PROVIDERS
from cerebra.routing.table import Deployment
from oco.auth import authenticate, extract_key
from oco.errors import ApiError
from oco.observability import new_request_id

log = logging.getLogger("cerebra.gateway")


class RouteLabel:
    """What the observability middleware reads (`.path`) to label metrics per endpoint."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


LABELS = {
    name: RouteLabel(f"/v1/{name}")
    for name in (
        "chat/completions",
        "embeddings",
        "responses",
        "responses/{id}",
        "models",
        "models/{id}",
        "openai/*",
        "anthropic/*",
        "gemini/*",
        *anthropic_dialect.ROUTES,
    )
}
UNMATCHED = RouteLabel("unmatched")


def _key_of(headers: Headers, query: str, provider: str | None) -> str | None:
    key = extract_key(headers.get, allow_bearer=True)
    if key is None and provider == "gemini":  # what Google's SDKs send
        key = headers.get("x-goog-api-key")
        if key is None and query:
            for pair in query.split("&"):
                if pair.startswith("key="):
                    key = pair[4:]
    return key


def _strip_key(query: str) -> str:
    """Drop a `key=` query parameter (Gemini's way of passing a key): never forward the caller's key."""
    if "key=" not in query:
        return query
    return "&".join(p for p in query.split("&") if not p.startswith("key="))


class LastMessageHeld:
    """A `send` that holds back the response's final body message until `release()`: the gateway logs the
    call in between, so a client never has a complete response whose log row could still be lost."""

    __slots__ = ("_send", "_held")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._held: Message | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._held = message
            return
        await self._send(message)

    async def release(self) -> None:
        """Send the held message, if any (not after the client went away: there is no one to send it to)."""
        held, self._held = self._held, None
        if held is not None:
            try:
                await self._send(held)
            except (OSError, RuntimeError):  # the connection is closed
                log.debug("client gone before the end of the response")


class GatewayApp:
    """ASGI callable for /v1/* (scope["app"].state.gateway holds the Gateway)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        gw: Gateway = scope["app"].state.gateway
        path: str = scope["path"]
        route = path[4:] if path.startswith("/v1/") else ""
        method: str = scope["method"]
        headers = Headers(scope["headers"])
        query = scope.get("query_string", b"").decode("latin-1")
        provider: str | None
        provider, _, subpath = route.partition("/")
        if provider in NATIVE_PROVIDERS and subpath:
            endpoint = f"native:{provider}"
            scope["route"] = LABELS[f"{provider}/*"]
            raw = scope.get("raw_path") or path.encode()
            subpath = raw.decode("latin-1")[
                len(provider) + 5 :
            ]  # percent-encoding kept: nothing decoded twice
        else:
            provider = None
            known = ("chat/completions", "embeddings", "responses", *anthropic_dialect.ROUTES)
            endpoint = route if route in known else "unknown"
            if route.startswith("responses/"):
                endpoint = "responses"
            scope["route"] = LABELS.get(route) or (
                LABELS["models/{id}"]
                if route.startswith("models/")
                else LABELS["responses/{id}"]
                if route.startswith("responses/")
                else UNMATCHED
            )
        request_id = scope.get("state", {}).get("request_id") or new_request_id()
        ctx = CallContext(request_id=request_id, endpoint=endpoint)
        # -- the Anthropic dialect: its routes, and /v1/models for callers sending anthropic-version
        anthropic_shape = route in anthropic_dialect.ROUTES or (
            route.partition("/")[0] == "models" and headers.get("anthropic-version") is not None
        )
        send_error_shaped = anthropic_errors.send_error if anthropic_shape else send_error
        authenticated = False
        logged = not route.startswith("models")
        last = LastMessageHeld(send)
        try:
            ctx.principal = await authenticate(gw.keys, _key_of(headers, query, provider), "cerebra")
            authenticated = True
            if logged:  # the log row is spooled before the response's last byte leaves (see the end)
                send = last.send
            self._attribute(ctx, headers)
            if provider is not None:
                raw_body = await read_body(receive, headers, gw.max_body)
                await native(
                    gw, ctx, provider, subpath, _strip_key(query), method, headers, raw_body, receive, send
                )
            elif route == "chat/completions" and method == "POST":
                body = decode_json_body(await read_body(receive, headers, gw.max_body))
                await chat_completions(gw, ctx, body, headers, receive, send)
            elif route == "messages" and method == "POST":
                raw_body = await read_body(receive, headers, gw.max_body)
                await anthropic_dialect.messages(gw, ctx, headers, query, raw_body, receive, send)
            elif route == "messages/count_tokens" and method == "POST":
                raw_body = await read_body(receive, headers, gw.max_body)
                await anthropic_dialect.count_tokens(gw, ctx, headers, query, raw_body, receive, send)
            elif anthropic_shape and route.partition("/")[0] == "models" and method == "GET":
                model_id = route[len("models/") :] if route.startswith("models/") else None
                await anthropic_dialect.send_models(send, self._models(gw, ctx), model_id, query)
                return
            elif route == "embeddings" and method == "POST":
                body = decode_json_body(await read_body(receive, headers, gw.max_body))
                await embeddings(gw, ctx, body, send)
            elif route == "responses" and method == "POST":
                body = decode_json_body(await read_body(receive, headers, gw.max_body))
                await responses.create_response(
                    gw, scope["app"].state.responses, ctx, body, headers, receive, send
                )
            elif route.startswith("responses/") and method in ("GET", "DELETE"):
                rest = route[len("responses/") :]
                await responses.stored_route(scope["app"].state.responses, ctx, method, rest, query, send)
            elif route == "models" and method == "GET":
                await send_json(send, 200, {"object": "list", "data": self._models(gw, ctx)})
                return
            elif route.startswith("models/") and method == "GET":
                model = route[len("models/") :]
                match = [m for m in self._models(gw, ctx) if m["id"] == model]
                if not match and gw.routes.current().route_for(model) is not None:  # a wildcard's name
                    match = [{"id": model, "object": "model", "created": 0, "owned_by": "cerebra"}]
                if not match:
                    raise ApiError(
                        404,
                        f"the model '{model[:200]}' does not exist",
                        code="model_not_found",
                        param="model",
                    )
                await send_json(send, 200, match[0])
                return
            elif route in (
                "chat/completions",
                "embeddings",
                "models",
                "responses",
                *anthropic_dialect.ROUTES,
            ) or (route.startswith("responses/")):
                raise ApiError(405, f"method {method} not allowed on /v1/{route}", code="method_not_allowed")
            else:
                raise ApiError(404, f"unknown route /v1/{route[:100]}", code="unknown_route")
        except ApiError as exc:
            ctx.status, ctx.error, ctx.error_type = exc.status, exc.message, exc.code or exc.type
            await send_error_shaped(send, exc, headers=ctx.response_headers() if authenticated else ())
        except CallFailed as exc:
            ctx.status, ctx.error = exc.error.status, exc.error.message
            ctx.error_type = exc.error.code or exc.error.type
            await send_error_shaped(send, exc.error, exc.extra, headers=ctx.response_headers())
        except ConnectionAbortedError:
            ctx.status, ctx.error, ctx.error_type = 499, "client disconnected", "client_disconnected"
        except Exception:  # noqa: BLE001 - a bug must still answer in the error shape and leave a log row
            log.exception("gateway error on %s %s", method, scope["route"].path)
            ctx.status, ctx.error, ctx.error_type = 500, "internal gateway error", "internal_error"
            try:
                await send_error_shaped(send, ApiError(500, "internal gateway error", code="internal_error"))
            except Exception:  # noqa: BLE001 - the response had already started
                log.debug("could not send the error response")
        if authenticated and logged:
            gw.finish(ctx)  # the row is in the spool file now: a crash from here on cannot lose it
            if ctx.cache_pending is not None and gw.cache is not None:  # priced: a miss's answer is stored
                await gw.cache.save(ctx)  # before the last byte, so a caller with the answer finds it
            await last.release()
            await gw.after_call(ctx)

    @staticmethod
    def _attribute(ctx: CallContext, headers: Headers) -> None:
        """X-Team-ID / X-Agent-ID / X-Org-ID labels; a key bound to a team or an org cannot claim another."""
        principal = ctx.principal
        assert principal is not None
        claimed, claimed_org = headers.get("x-team-id"), headers.get("x-org-id")
        ctx.team_id = principal.team or claimed  # a refusal below is logged under the bound team/org
        ctx.org_id = principal.org or claimed_org
        ctx.agent_id = headers.get("x-agent-id")
        if principal.team and claimed and claimed != principal.team:
            raise ApiError(
                403, "this API key is bound to another team", code="team_mismatch", param="X-Team-ID"
            )
        if principal.org and claimed_org and claimed_org != principal.org:
            raise ApiError(403, "this API key is bound to another org", code="org_mismatch", param="X-Org-ID")

    @staticmethod
    def _models(gw: Gateway, ctx: CallContext) -> list[dict]:
        """The aliases this key may call."""
        table = gw.routes.current()
        names = list(table.routes)
        if table.routes and "auto" not in table.routes:
            names.append("auto")
        if ctx.principal is not None and ctx.principal.models is not None:
            names = [name for name in names if ctx.principal.may_call(name)]
        every = tuple(table.all_deployments())  # what the implicit `auto` picks from
        return [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": _owner(route.deployments if (route := table.routes.get(name)) else every),
            }
            for name in names
        ] + [  # wildcard aliases, listed as the patterns they are
            {"id": pattern, "object": "model", "created": 0, "owned_by": "cerebra", "pattern": True}
            for pattern in table.wildcards
        ]


def _owner(deployments: tuple[Deployment, ...]) -> str:
    """`oco-mock` for an alias served only by the built-in mock provider, else `cerebra`."""
    if deployments and all(d.provider == "mock" for d in deployments):
        return "oco-mock"
    return "cerebra"
