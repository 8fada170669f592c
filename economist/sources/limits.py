"""Bounds on what a billing file may expand to while it is streamed (decompression bombs): its total
decompressed size, the length of one physical line and of one CSV field. A file past a bound fails its
ingestion with the reason; memory stays at the bound, never at the file's size.

Set from EconomistSettings at start-up (`configure`): OCO_ECONOMIST_MAX_DECOMPRESSED_BYTES,
OCO_ECONOMIST_MAX_LINE_BYTES, OCO_ECONOMIST_MAX_FIELD_BYTES.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import IO, Any

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    """The bounds a file is read under."""

    max_decompressed_bytes: int = 64 * GiB
    max_line_bytes: int = 32 * MiB
    max_field_bytes: int = 16 * MiB  # tags columns can be large; the csv module's default is 128 KiB


_current = ReadLimits()
csv.field_size_limit(_current.max_field_bytes)


def configure(limits: ReadLimits) -> None:
    """Use `limits` for every file read from now on (the service's settings, at start-up). The CSV field
    bound is the csv module's process-wide field_size_limit."""
    global _current
    _current = limits
    csv.field_size_limit(limits.max_field_bytes)


def current() -> ReadLimits:
    return _current


class SourceLimitExceeded(OSError):
    """A file went past a read bound; the message says which and the setting that raises it."""


class BoundedStream(io.RawIOBase):
    """A raw reader over a (decompressed) binary stream that stops with SourceLimitExceeded once the stream
    has given more than `max_decompressed_bytes`, or a physical line grows past `max_line_bytes`."""

    def __init__(self, inner: IO[bytes] | Any, limits: ReadLimits | None = None) -> None:
        self._inner = inner
        self.limits = limits or current()
        self.total = 0
        self._line = 0  # bytes since the last newline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        # never more than a line's bound at once: a newline-free stretch inside one read is then bounded too
        data = self._inner.read(min(len(view), self.limits.max_line_bytes))
        n = len(data)
        self.total += n
        if self.total > self.limits.max_decompressed_bytes:
            raise SourceLimitExceeded(
                f"the file expands to more than {self.limits.max_decompressed_bytes} bytes"
                " (OCO_ECONOMIST_MAX_DECOMPRESSED_BYTES)"
            )
        first = data.find(b"\n")
        if first == -1:
            self._line += n
        else:
            if self._line + first > self.limits.max_line_bytes:
                self._line += first
            else:
                self._line = n - data.rfind(b"\n") - 1
        if self._line > self.limits.max_line_bytes:
            raise SourceLimitExceeded(
                f"a line is longer than {self.limits.max_line_bytes} bytes (OCO_ECONOMIST_MAX_LINE_BYTES)"
            )
        view[:n] = data
        return n


def bounded(stream: IO[bytes] | Any, limits: ReadLimits | None = None) -> io.BufferedReader:
    """`stream` (already decompressed) behind the read bounds, buffered."""
    return io.BufferedReader(BoundedStream(stream, limits), buffer_size=256 * 1024)
