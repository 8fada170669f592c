"""Tiny ASGI helpers for the hot path: header lookup, bounded body reading, JSON and error responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import orjson
from starlette.types import Message

from oco.errors import ApiError, error_body

Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

JSON_CT = (b"content-type", b"application/json")


class Headers:
    """Request headers as a dict of lower-case str names (built once per request)."""

    __slots__ = ("values",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.values = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}

    def get(self, name: str) -> str | None:
        return self.values.get(name)


async def read_body(receive: Receive, headers: Headers, limit: int) -> bytes:
    """The whole request body; 413 past `limit` bytes (checked before and while reading)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body exceeds {limit} bytes", code="request_too_large")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client disconnected")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body exceeds {limit} bytes", code="request_too_large")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """A complete response in two ASGI messages."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: object, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await send_bytes(send, status, orjson.dumps(payload), [JSON_CT, *headers])


async def send_error(
    send: Send, error: ApiError, extra: dict | None = None, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """An ApiError in OpenAI's error shape (extra fields go inside `error`), with `headers` added."""
    body = error_body(error.status, error.message, code=error.code, param=error.param, type_=error.type)
    if extra:
        doc = orjson.loads(body)
        doc["error"].update(extra)
        body = orjson.dumps(doc)
    all_headers = [JSON_CT, *headers, *((k.lower().encode(), v.encode()) for k, v in error.headers.items())]
    await send_bytes(send, error.status, body, all_headers)


def sse_error_frame(message: str, type_: str = "upstream_error", code: str | None = None) -> bytes:
    """An SSE event the OpenAI SDK raises as an APIError mid-stream."""
    return (
        b"data: "
        + orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})
        + b"\n\n"
    )
