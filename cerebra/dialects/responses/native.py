"""The OpenAI side of /v1/responses, passed through untranslated: usage read from Responses objects, a tap
that finds the final response in a native event stream (never changing it), and a stored conversation
made fit to send to OpenAI as input."""

from __future__ import annotations

from typing import Any

import orjson

from cerebra.providers import SSEParser, Usage
from cerebra.providers.base import as_int

FINAL_EVENTS = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')


def response_usage(usage: Any) -> Usage:
    """A Responses `usage` object as the gateway's Usage (input tokens include the cached ones)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    return Usage(
        prompt_tokens=as_int(usage.get("input_tokens")),
        completion_tokens=as_int(usage.get("output_tokens")),
        cache_read_tokens=as_int(details.get("cached_tokens")),
        cache_creation_tokens=as_int(details.get("cache_write_tokens")),
    )


def expanded_input(conversation: list[dict]) -> list[dict]:
    """Stored items as OpenAI input: item ids dropped (OpenAI resolves ids it stored itself, and these it
    never saw), reasoning items dropped (OpenAI accepts only its own, encrypted ones)."""
    out = []
    for item in conversation:
        if item.get("type") == "reasoning":
            continue
        out.append({k: v for k, v in item.items() if k not in ("id", "status")})
    return out


class NativeResponsesTap:
    """Watches an OpenAI Responses event stream for its final response object (usage, and what is stored)."""

    __slots__ = ("_parser", "usage", "response", "events")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self.usage = Usage()
        self.response: dict | None = None
        self.events = 0  # the next sequence_number

    def feed(self, chunk: bytes) -> None:
        for _, data in self._parser.feed(chunk):
            self._see(data)

    def close(self) -> bytes:
        for _, data in self._parser.flush():
            self._see(data)
        return b""

    def broken(self, message: str) -> bytes:
        """What the caller gets when the upstream stream breaks off: Responses' error event."""
        error = {
            "type": "error",
            "code": "server_error",
            "message": message,
            "param": None,
            "sequence_number": self.events,
        }
        return b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"

    def _see(self, data: bytes) -> None:
        self.events += 1
        if not any(marker in data for marker in FINAL_EVENTS):
            return
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        response = doc.get("response") if isinstance(doc, dict) else None
        if isinstance(response, dict):
            self.usage = response_usage(response.get("usage"))
            if doc.get("type") != "response.failed":
                self.response = response
