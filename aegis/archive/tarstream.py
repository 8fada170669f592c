"""A minimal streaming tar writer: POSIX ustar headers built from a template, PAX for what ustar cannot hold.

``tarfile`` spends ~50 us per member building headers; backups write one member per object, so this
writer does the common case (ASCII path that fits ustar's name/prefix, regular file) in a few us and
hands anything else to ``tarfile``'s PAX encoder. Output reads with tarfile, GNU tar and Go's archive/tar.
"""

from __future__ import annotations

import tarfile
from typing import Protocol

BLOCK = 512
_NAME, _PREFIX = slice(0, 100), slice(345, 500)
_SIZE, _MTIME, _CHKSUM = slice(124, 136), slice(136, 148), slice(148, 156)


class _Sink(Protocol):
    def write(self, data: bytes) -> object: ...


def _template() -> bytearray:
    header = bytearray(BLOCK)
    header[100:108] = b"0000644\0"  # mode
    header[108:116] = b"0000000\0"  # uid
    header[116:124] = b"0000000\0"  # gid
    header[156:157] = b"0"  # regular file
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[329:337] = b"0000000\0"  # devmajor
    header[337:345] = b"0000000\0"  # devminor
    return header


class TarStreamWriter:
    """Writes regular files into ``sink`` one after another; call :meth:`close` for the end marker."""

    def __init__(self, sink: _Sink, mtime: int) -> None:
        self._sink = sink
        self._mtime = mtime
        self._template = _template()
        self._template[_MTIME] = b"%011o\0" % mtime

    def add(self, name: str, data: bytes) -> None:
        header = self._header(name, len(data))
        padding = -len(data) % BLOCK
        self._sink.write(header + data + b"\0" * padding)

    def close(self) -> None:
        self._sink.write(b"\0" * (2 * BLOCK))

    def _header(self, name: str, size: int) -> bytes:
        split = _split_ustar(name) if name.isascii() and size < 8**11 else None
        if split is None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = size, self._mtime, 0o644
            return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        prefix, base = split
        header = self._template.copy()
        header[_NAME] = base.ljust(100, b"\0")
        header[_PREFIX] = prefix.ljust(155, b"\0")
        header[_SIZE] = b"%011o\0" % size
        header[_CHKSUM] = b" " * 8
        header[_CHKSUM] = b"%06o\0 " % sum(header)
        return bytes(header)


def _split_ustar(name: str) -> tuple[bytes, bytes] | None:
    """(prefix, name) for ustar: name <= 100 bytes, or split at a '/' into <= 155 + <= 100."""
    raw = name.encode("ascii")
    if len(raw) <= 100:
        return b"", raw
    cut = raw.rfind(b"/", 0, 156)  # the rightmost usable '/' leaves the shortest name
    if 0 < cut < len(raw) - 1 and len(raw) - cut - 1 <= 100:
        return raw[:cut], raw[cut + 1 :]
    return None
