"""Key-value backend for caches, counters and locks: Redis when configured, else in-process (same interface)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis


class LockNotAcquired(RuntimeError):
    """Another holder has the lock and `blocking_timeout_s` passed."""


class ScriptStore(ABC):
    """What an AtomicScript's in-process twin may touch: string values with expiry, and the clock."""

    @abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def set(self, key: str, value: bytes | str, ttl_ms: int | None = None) -> None: ...

    @abstractmethod
    def now_us(self) -> int:
        """Microseconds since the epoch (Redis: its TIME, so replicas share one clock)."""


@dataclass(frozen=True, eq=False)
class AtomicScript:
    """A read-modify-write over a few keys that runs atomically on either back end: `lua` on Redis
    (EVALSHA; KEYS get the kv prefix, ARGV are strings, the clock is `redis.call('TIME')`), `local`
    in-process: a synchronous function of (store, keys, args) with the same semantics, atomic because
    nothing else runs between its reads and writes. Both return a list of integers."""

    name: str
    lua: str
    local: Callable[[ScriptStore, Sequence[str], Sequence[str]], list[int]] = field(repr=False)


class KV(ABC):
    """The contract both backends satisfy (tests/oco/test_kv.py runs against each)."""

    backend: str

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The value, or None when missing or expired."""

    @abstractmethod
    async def set(self, key: str, value: bytes | str, ttl_s: float | None = None) -> None:
        """Store a value, optionally expiring after `ttl_s` seconds."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove a key (no error when missing)."""

    @abstractmethod
    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Atomically add `amount`; a counter created by this call expires after `ttl_s` seconds."""

    @abstractmethod
    def lock(
        self, name: str, ttl_s: float = 30.0, blocking_timeout_s: float = 0.0
    ) -> AbstractAsyncContextManager[None]:
        """An async context manager holding `name` for at most `ttl_s`; raises LockNotAcquired."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise when the backend is unreachable."""

    @abstractmethod
    async def run(self, script: AtomicScript, keys: Sequence[str], args: Sequence[str | int]) -> list[int]:
        """Run an atomic script (see AtomicScript) and return its integers."""

    async def close(self) -> None:
        """Release connections."""


SWEEP_EVERY = 1000


class _MemoryScriptStore(ScriptStore):
    """MemoryKV's data as an AtomicScript's in-process twin sees it."""

    __slots__ = ("kv",)

    def __init__(self, kv: MemoryKV) -> None:
        self.kv = kv

    def get(self, key: str) -> bytes | None:
        entry = self.kv._live(key)
        return entry[0] if entry else None

    def set(self, key: str, value: bytes | str, ttl_ms: int | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        self.kv._data[key] = (data, time.monotonic() + ttl_ms / 1000 if ttl_ms else None)
        self.kv._sweep()

    def now_us(self) -> int:
        return time.time_ns() // 1000


class MemoryKV(KV):
    """In-process backend: a dict with expiry times. Atomic because asyncio runs one task at a time."""

    backend = "memory"

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._writes = 0

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= time.monotonic():
            del self._data[key]
            return None
        return entry

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return entry[0] if entry else None

    def _sweep(self) -> None:
        """Every SWEEP_EVERY writes, forget expired keys nobody reads again (per-minute counters)."""
        self._writes += 1
        if self._writes % SWEEP_EVERY:
            return
        now = time.monotonic()
        for key in [k for k, (_, expires) in self._data.items() if expires is not None and expires <= now]:
            del self._data[key]

    async def set(self, key: str, value: bytes | str, ttl_s: float | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        self._data[key] = (data, time.monotonic() + ttl_s if ttl_s else None)
        self._sweep()

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        entry = self._live(key)
        if entry is None:
            value, expires = amount, (time.monotonic() + ttl_s if ttl_s else None)
        else:
            value, expires = int(entry[0]) + amount, entry[1]
        self._data[key] = (str(value).encode(), expires)
        self._sweep()
        return value

    @asynccontextmanager
    async def lock(
        self, name: str, ttl_s: float = 30.0, blocking_timeout_s: float = 0.0
    ) -> AsyncIterator[None]:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + blocking_timeout_s
        while True:
            holder = self._locks.get(name)
            if holder is None or holder[1] <= time.monotonic():
                self._locks[name] = (token, time.monotonic() + ttl_s)
                break
            if time.monotonic() >= deadline:
                raise LockNotAcquired(name)
            await asyncio.sleep(0.01)
        try:
            yield
        finally:
            if self._locks.get(name, ("",))[0] == token:
                del self._locks[name]

    async def ping(self) -> None:
        return None

    async def run(self, script: AtomicScript, keys: Sequence[str], args: Sequence[str | int]) -> list[int]:
        return script.local(_MemoryScriptStore(self), list(keys), [str(a) for a in args])


_INCR_WITH_TTL = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value == tonumber(ARGV[1]) and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""


class RedisKV(KV):
    """Redis backend (redis-py asyncio); keys are namespaced with `prefix`."""

    backend = "redis"

    def __init__(self, url: str, *, prefix: str = "oco:") -> None:
        self.client = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.prefix = prefix
        self._incr = self.client.register_script(_INCR_WITH_TTL)
        self._scripts: dict[str, Any] = {}

    async def get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self.client.get(self.prefix + key))  # no decode_responses: bytes

    async def set(self, key: str, value: bytes | str, ttl_s: float | None = None) -> None:
        await self.client.set(self.prefix + key, value, px=int(ttl_s * 1000) if ttl_s else None)

    async def delete(self, key: str) -> None:
        await self.client.delete(self.prefix + key)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        ttl_ms = int(ttl_s * 1000) if ttl_s else 0
        return int(await self._incr(keys=[self.prefix + key], args=[amount, ttl_ms]))

    @asynccontextmanager
    async def lock(
        self, name: str, ttl_s: float = 30.0, blocking_timeout_s: float = 0.0
    ) -> AsyncIterator[None]:
        lock = self.client.lock(
            self.prefix + "lock:" + name,
            timeout=ttl_s,
            blocking=blocking_timeout_s > 0,
            blocking_timeout=blocking_timeout_s or None,
        )
        if not await lock.acquire():
            raise LockNotAcquired(name)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # expired meanwhile: someone else may hold it now
                await lock.release()

    async def ping(self) -> None:
        await self.client.ping()

    async def run(self, script: AtomicScript, keys: Sequence[str], args: Sequence[str | int]) -> list[int]:
        registered = self._scripts.get(script.name)
        if registered is None:
            registered = self._scripts[script.name] = self.client.register_script(script.lua)
        result = await registered(keys=[self.prefix + k for k in keys], args=[str(a) for a in args])
        return [int(v) for v in result]

    async def close(self) -> None:
        await self.client.aclose()


def create_kv(redis_url: str | None, *, prefix: str = "oco:") -> KV:
    """Redis when a URL is configured, else the in-process backend."""
    return RedisKV(redis_url, prefix=prefix) if redis_url else MemoryKV()
