"""Streaming AES-256-GCM for archives, in fixed-size authenticated chunks (the STREAM construction).

Layout: header ``AEGISENC`` | version (1 byte) | chunk size (u32 BE) | salt (32 bytes), then chunks of
``ciphertext || 16-byte tag``. Each file uses its own key, HKDF-SHA256(master key, salt); chunk i is
sealed with nonce = i (11 bytes BE) || final flag (1 byte) and the header as associated data, so a
reordered, dropped, truncated or spliced chunk fails authentication. Only the last chunk is final.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"AEGISENC"
VERSION = 1
HEADER = struct.Struct(">8sBI32s")
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 256 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
_INFO = b"oco-aegis archive v1"


class EncryptionKeyError(ValueError):
    """The configured key is not base64 of exactly 32 bytes (the key itself is never echoed)."""


class DecryptionError(Exception):
    """Authentication failed: wrong key, or the ciphertext was altered, reordered or truncated."""


def parse_key(text: str | bytes) -> bytes:
    """Decode a base64 (standard or URL-safe) AES-256 key."""
    raw = text.encode() if isinstance(text, str) else text
    raw = raw.strip()
    try:
        key = base64.b64decode(raw.replace(b"-", b"+").replace(b"_", b"/"), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionKeyError("encryption key is not valid base64") from None
    if len(key) != 32:
        raise EncryptionKeyError(f"encryption key must decode to 32 bytes, got {len(key)}")
    return key


def generate_key() -> str:
    """A fresh key in the form :func:`parse_key` accepts."""
    return base64.b64encode(os.urandom(32)).decode()


def _file_cipher(key: bytes, salt: bytes) -> AESGCM:
    if len(key) != 32:
        raise EncryptionKeyError("encryption key must be 32 bytes")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(key)
    return AESGCM(derived)


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class ByteSink(Protocol):
    """Where EncryptingWriter writes: a binary file or anything with its write() and flush()."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> None: ...


class EncryptingWriter:
    """A write-only binary sink that encrypts into ``sink``; :meth:`close` seals the final chunk.

    Does not close ``sink``. Holds at most one chunk of plaintext in memory.
    """

    def __init__(self, sink: ByteSink, key: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError("chunk_size out of range")
        salt = os.urandom(32)
        self._header = HEADER.pack(MAGIC, VERSION, chunk_size, salt)
        self._cipher = _file_cipher(key, salt)
        self._sink = sink
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        sink.write(self._header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to closed EncryptingWriter")
        self._buffer += data
        # Keep at least one byte back: only close() knows which chunk is the final one.
        while len(self._buffer) > self._chunk_size:
            chunk = bytes(self._buffer[: self._chunk_size])
            del self._buffer[: self._chunk_size]
            self._seal(chunk, final=False)
        return len(data)

    def flush(self) -> None:
        self._sink.flush()

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._closed = True

    def _seal(self, chunk: bytes, final: bool) -> None:
        self._sink.write(self._cipher.encrypt(_nonce(self._index, final), chunk, self._header))
        self._index += 1


class DecryptingReader:
    """A read-only binary stream over an encrypted ``source``; raises DecryptionError on any tampering.

    Reads one chunk ahead so the final chunk is recognised; truncation at a chunk boundary fails
    because the last chunk present was not sealed as final.
    """

    def __init__(self, source: BinaryIO, key: bytes) -> None:
        header = _read_exactly(source, HEADER.size)
        if len(header) != HEADER.size:
            raise DecryptionError("encrypted archive is truncated (incomplete header)")
        magic, version, chunk_size, salt = HEADER.unpack(header)
        if magic != MAGIC:
            raise DecryptionError("not an Aegis encrypted archive")
        if version != VERSION or not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise DecryptionError(f"unsupported encrypted archive (version {version})")
        self._header = header
        self._cipher = _file_cipher(key, salt)
        self._source = source
        self._sealed_size = chunk_size + TAG_SIZE
        self._index = 0
        self._pending = _read_exactly(source, self._sealed_size)
        self._plain = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        wanted = size if size is not None and size >= 0 else None
        while wanted is None or wanted > 0:
            if self._pos >= len(self._plain):
                if self._done:
                    break
                self._plain, self._pos = self._next_chunk(), 0
                continue
            end = len(self._plain) if wanted is None else min(len(self._plain), self._pos + wanted)
            parts.append(self._plain[self._pos : end])
            if wanted is not None:
                wanted -= end - self._pos
            self._pos = end
        return b"".join(parts)

    def close(self) -> None:
        self._done = True

    def _next_chunk(self) -> bytes:
        sealed = self._pending
        if len(sealed) < TAG_SIZE:
            raise DecryptionError("encrypted archive is truncated")
        following = (
            _read_exactly(self._source, self._sealed_size) if len(sealed) == self._sealed_size else b""
        )
        final = not following
        try:
            plain = self._cipher.decrypt(_nonce(self._index, final), sealed, self._header)
        except InvalidTag:
            if self._index == 0:
                raise DecryptionError(
                    "cannot decrypt archive: wrong encryption key or altered data"
                ) from None
            raise DecryptionError(
                f"archive chunk {self._index} failed authentication (altered or truncated)"
            ) from None
        self._index += 1
        self._pending = following
        self._done = final
        return plain


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    parts, remaining = [], size
    while remaining > 0:
        data = source.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)
