"""Streaming AES-256-GCM for archives, in fixed-size authenticated chunks (the STREAM construction).

Layout: header ``AEGISENC`` | version (1 byte) | chunk size (u32 BE) | salt (32 bytes) | (version 2 only)
key id length (1 byte) and key id (ASCII), then chunks of ``ciphertext || 16-byte tag``. The key id names
which configured key sealed the file (never the key). Each file uses its own key, HKDF-SHA256(master key,
salt); chunk i is sealed with nonce = i (11 bytes BE) || final flag (1 byte) and the whole header as
associated data, so a reordered, dropped, truncated or spliced chunk, or an edited key id, fails
authentication. Only the last chunk is final. Version 1 (written before key ids) is still read: the
configured keys are tried on its first chunk, whose tag tells which one sealed it.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Sequence
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aegis.archive.keys import DEFAULT_KEY_ID, KeyRing, UnknownKeyError, validate_key_id

MAGIC = b"AEGISENC"
#: the version written: 2 names its key; 1 (no key id) is still read.
VERSION = 2
LEGACY_VERSION = 1
#: the fixed part of every version's header; version 2 follows it with the key id.
HEADER = struct.Struct(">8sBI32s")
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 256 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
_INFO = b"oco-aegis archive v1"


class EncryptionKeyError(ValueError):
    """The configured key is not base64 of exactly 32 bytes (the key itself is never echoed)."""


class DecryptionError(Exception):
    """Authentication failed: wrong key, or the ciphertext was altered, reordered or truncated."""


class KeyNotConfiguredError(DecryptionError):
    """The archive names a key id that is not among the configured keys."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"archive was encrypted with key id {key_id!r}, which is not configured: add that key to"
            " OCO_AEGIS_ENCRYPTION_KEYS to read it"
        )
        self.key_id = key_id


#: what a reader may be given: one raw key (an archive of any id is tried with it) or the key ring.
Keys = bytes | KeyRing


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


def header_size(key_id: str = DEFAULT_KEY_ID) -> int:
    """Bytes of the header a writer puts before the first chunk for ``key_id``."""
    return HEADER.size + 1 + len(key_id.encode("ascii"))


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

    def __init__(
        self,
        sink: ByteSink,
        key: bytes,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        key_id: str = DEFAULT_KEY_ID,
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError("chunk_size out of range")
        salt = os.urandom(32)
        raw_id = validate_key_id(key_id).encode("ascii")
        self.key_id = key_id
        self._header = HEADER.pack(MAGIC, VERSION, chunk_size, salt) + bytes([len(raw_id)]) + raw_id
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

    ``keys`` is one raw key or a :class:`KeyRing`: a version 2 archive is opened with the key its header
    names (:class:`KeyNotConfiguredError` when the ring lacks it); a version 1 archive with whichever
    configured key authenticates its first chunk. ``key_id`` is then the id that opened it.
    Reads one chunk ahead so the final chunk is recognised; truncation at a chunk boundary fails
    because the last chunk present was not sealed as final.
    """

    def __init__(self, source: BinaryIO, keys: Keys) -> None:
        header = _read_exactly(source, HEADER.size)
        if len(header) != HEADER.size:
            raise DecryptionError("encrypted archive is truncated (incomplete header)")
        magic, version, chunk_size, salt = HEADER.unpack(header)
        if magic != MAGIC:
            raise DecryptionError("not an Aegis encrypted archive")
        if version not in (VERSION, LEGACY_VERSION) or not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise DecryptionError(f"unsupported encrypted archive (version {version})")
        self.version: int = version
        self.named_key_id: str | None = None
        if version == VERSION:
            named, raw_id = _read_key_id(source)
            header += raw_id
            self.named_key_id = named
        self._header = header
        self._candidates = [(i, _file_cipher(k, salt)) for i, k in _keys_for(keys, self.named_key_id)]
        self.key_id: str | None = self.named_key_id
        self._cipher = self._candidates[0][1]
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
            if self._index == 0:
                plain = self._open_first(sealed, final)
            else:
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

    def _open_first(self, sealed: bytes, final: bool) -> bytes:
        """The first chunk, with the one key that authenticates it (InvalidTag when none does)."""
        for key_id, cipher in self._candidates:
            try:
                plain = cipher.decrypt(_nonce(0, final), sealed, self._header)
            except InvalidTag:
                continue
            self._cipher, self.key_id = cipher, key_id
            return plain
        raise InvalidTag


def _keys_for(keys: Keys, named: str | None) -> Sequence[tuple[str | None, bytes]]:
    """The keys to try: the named one (version 2), else every configured key, the default id first."""
    if isinstance(keys, bytes):
        return [(named, keys)]
    if named is not None:
        try:
            return [(named, keys.get(named))]
        except UnknownKeyError:
            raise KeyNotConfiguredError(named) from None
    candidates = keys.legacy_candidates()
    if not candidates:
        raise DecryptionError("archive is encrypted and no encryption key is configured")
    return candidates


def _read_key_id(source: BinaryIO) -> tuple[str, bytes]:
    """The key id after a version 2 header, and its raw bytes (length byte included)."""
    raw = _read_exactly(source, 1)
    if not raw or not raw[0]:
        raise DecryptionError("encrypted archive is truncated (incomplete header)")
    raw_id = _read_exactly(source, raw[0])
    if len(raw_id) != raw[0]:
        raise DecryptionError("encrypted archive is truncated (incomplete header)")
    try:
        key_id = validate_key_id(raw_id.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise DecryptionError("encrypted archive header names an invalid key id") from None
    return key_id, raw + raw_id


def peek_key_id(path: str | os.PathLike[str]) -> tuple[int, str | None] | None:
    """(header version, key id named or None for version 1) of an encrypted file; None if not encrypted.
    Reads the header only; nothing is authenticated here (decryption does that)."""
    with open(path, "rb") as f:
        header = _read_exactly(f, HEADER.size)
        if len(header) < HEADER.size or header[: len(MAGIC)] != MAGIC:
            return None
        version = header[len(MAGIC)]
        if version != VERSION:
            return version, None
        return version, _read_key_id(f)[0]


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    parts, remaining = [], size
    while remaining > 0:
        data = source.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)
