"""Errors in Anthropic's shape ({"type":"error","error":{"type":...,"message":...}}) for the routes the
Anthropic SDK calls; the status decides the type, as Anthropic's API does."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from cerebra.gateway.http import JSON_CT, Send, send_bytes
from oco.errors import ApiError

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    499: "api_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")


def error_body(status: int, message: str, extra: dict | None = None) -> bytes:
    error: dict = {"type": error_type(status), "message": message}
    if extra:
        error.update(extra)
    return orjson.dumps({"type": "error", "error": error})


async def send_error(
    send: Send, error: ApiError, extra: dict | None = None, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """An ApiError in Anthropic's error shape (same signature as cerebra.gateway.http.send_error)."""
    body = error_body(error.status, error.message, extra)
    all_headers = [JSON_CT, *headers, *((k.lower().encode(), v.encode()) for k, v in error.headers.items())]
    await send_bytes(send, error.status, body, all_headers)
