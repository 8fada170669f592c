"""Where cached answers live: the shared kv when it is Redis (one cache for every replica; bound its
memory with Redis's `maxmemory` and an LRU policy), else an in-process LRU bounded in total bytes."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import OrderedDict

from oco.kv import KV


class CacheStore(ABC):
    """Bytes by key with a TTL."""

    @abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def put(self, key: str, value: bytes, ttl_s: int) -> None: ...


class KvCacheStore(CacheStore):
    """Entries on the kv (Redis SET with PX): shared by all replicas."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    async def get(self, key: str) -> bytes | None:
        return await self.kv.get(key)

    async def put(self, key: str, value: bytes, ttl_s: int) -> None:
        await self.kv.set(key, value, ttl_s=ttl_s)


class MemoryCacheStore(CacheStore):
    """A per-process LRU: at most `max_bytes` of entries; the least recently used go first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[0]

    async def put(self, key: str, value: bytes, ttl_s: int) -> None:
        if len(value) > self.max_bytes:
            return
        self._drop(key)
        self._entries[key] = (value, time.monotonic() + ttl_s)
        self.size += len(value)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= len(entry[0])


def make_store(kv: KV, memory_bytes: int) -> CacheStore:
    """The kv when it is shared (Redis), else a bounded in-process LRU."""
    return KvCacheStore(kv) if kv.backend != "memory" else MemoryCacheStore(memory_bytes)
