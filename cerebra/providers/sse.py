"""Incremental Server-Sent Events parser: feed byte chunks split anywhere, get complete events.

Handles LF, CRLF and CR line endings (so `\\n\\n` and `\\r\\n\\r\\n` framing), comments, multi-line data.
"""

from __future__ import annotations

from typing import NamedTuple

#: the largest event (or unfinished line) kept in memory; a bigger one is a broken or hostile upstream
MAX_EVENT_BYTES = 8 * 1024 * 1024


class SSEEventTooLarge(ValueError):
    """An upstream event grew past MAX_EVENT_BYTES before it ended."""


class SSEEvent(NamedTuple):
    event: str | None  # the `event:` field, None when absent
    data: bytes  # the `data:` lines joined with b"\n"


class SSEParser:
    """Feed raw bytes with `feed()`; each call returns the events completed by that chunk."""

    __slots__ = ("_buf", "_cr")

    def __init__(self) -> None:
        self._buf = b""
        self._cr = False  # the previous chunk ended with a lone b"\r" (maybe half of b"\r\n")

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._cr or b"\r" in chunk:
            chunk = self._normalize(chunk)
        buf = self._buf
        if buf:
            scan = len(buf) - 1  # a b"\n\n" may straddle the old buffer and the new chunk
            buf += chunk
        else:
            scan = 0
            buf = chunk
        end = buf.find(b"\n\n", scan)
        if end < 0:
            if len(buf) > MAX_EVENT_BYTES:
                raise SSEEventTooLarge(f"an event passed {MAX_EVENT_BYTES} bytes")
            self._buf = buf
            return []
        events: list[SSEEvent] = []
        start = 0
        while end >= 0:
            if end - start > MAX_EVENT_BYTES:
                raise SSEEventTooLarge(f"an event passed {MAX_EVENT_BYTES} bytes")
            event = _parse_block(buf[start:end])
            if event is not None:
                events.append(event)
            start = end + 2
            end = buf.find(b"\n\n", start)
        self._buf = buf[start:]
        if len(self._buf) > MAX_EVENT_BYTES:
            raise SSEEventTooLarge(f"an event passed {MAX_EVENT_BYTES} bytes")
        return events

    def flush(self) -> list[SSEEvent]:
        """At end of stream: the last event even if the server omitted its blank line."""
        buf, self._buf, self._cr = self._buf, b"", False
        block = buf.strip(b"\n")
        if not block:
            return []
        event = _parse_block(block)
        return [event] if event is not None else []

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete event."""
        return self._buf

    def _normalize(self, chunk: bytes) -> bytes:
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._cr = True
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _parse_block(block: bytes) -> SSEEvent | None:
    if block.startswith(b"data: ") and b"\n" not in block:  # the common case
        return SSEEvent(None, block[6:])
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[0] == 58:  # b":" starts a comment
            continue
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data:
        return None  # per the SSE spec an event with no data is not dispatched
    return SSEEvent(event, data[0] if len(data) == 1 else b"\n".join(data))
