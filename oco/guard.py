"""The request guard every service's /api routes sit behind (an ASGI middleware): the API key is verified
before a single body byte is read, and every body is capped (OCO_MAX_BODY_BYTES, with per-route overrides
for uploads), so a caller without a key costs no memory and nobody can make a service buffer a huge body.
Refusals are the one error shape: 401 (no or a wrong key), 413 (too large, declared or streamed)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oco.auth import extract_key, unauthorized
from oco.errors import ApiError, PayloadTooLarge, error_body

#: methods whose requests carry a body the app would read
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _TooLarge(Exception):
    """Raised into the app from receive(): the body went past its limit while streaming."""


def too_large(limit: int) -> PayloadTooLarge:
    """413 `too_large` (the kernel's kind, as the upload routes answer it too)."""
    return PayloadTooLarge(f"the request body exceeds {limit} bytes")


class RequestGuard:
    """Key first, then a bounded body, for every request under `prefix` (the API; health, metrics and docs
    are outside it). `limits` maps a path to its own cap (e.g. an upload route); others get `max_body`.
    The key is only verified here (401); the route still checks its scope (403)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        limits: Mapping[str, int] | None = None,
        prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.limits = dict(limits or {})
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        has_body = scope["method"] in BODY_METHODS or "content-length" in headers
        if not has_body:
            await self.app(scope, receive, send)
            return
        try:
            principal = await scope["app"].state.keys.verify(extract_key(headers.get, allow_bearer=False))
            if principal is None:
                raise unauthorized()
            limit = self.limits.get(scope["path"].rstrip("/"), self.max_body)
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large(limit)
        except ApiError as exc:
            await _send_error(send, exc)
            return
        await self._bounded(scope, receive, send, limit)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app with a receive() that stops at `limit` bytes: past it the app's own response is
        dropped and the caller gets the 413 (unless a response had already started)."""
        state = {"seen": 0, "over": False, "started": False}

        async def limited_receive() -> Message:
            if state["over"]:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > limit:
                    state["over"] = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if state["over"] and not state["started"]:
                return  # the app's answer to a body it never got whole (a 400 or 500): replaced below
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _send_error(send, too_large(limit))


async def _send_error(send: Send, exc: ApiError) -> None:
    body = error_body(exc.status, exc.message, code=exc.code, param=exc.param, type_=exc.type)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
