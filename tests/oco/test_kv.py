"""One contract for both kv backends: in-process always, Redis when OCO_TEST_REDIS_URL is set."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
import redis.exceptions

from oco.kv import KV, LockNotAcquired, MemoryKV, RedisKV
from tests.conftest import require_or_skip


@pytest.fixture(params=["memory", "redis"])
async def kv(request, redis_url):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        backend: KV = MemoryKV()
    else:
        if not redis_url:
            require_or_skip("OCO_TEST_REDIS_URL")
        backend = RedisKV(redis_url, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    yield backend
    await backend.close()


async def test_get_set_delete_and_ttl(kv: KV) -> None:
    assert await kv.get("missing") is None
    await kv.set("a", "1")
    assert await kv.get("a") == b"1"
    await kv.set("b", b"bytes", ttl_s=0.2)
    assert await kv.get("b") == b"bytes"
    await asyncio.sleep(0.35)
    assert await kv.get("b") is None
    await kv.delete("a")
    assert await kv.get("a") is None
    await kv.delete("never-there")


async def test_incr_is_atomic_and_expires(kv: KV) -> None:
    results = await asyncio.gather(*(kv.incr("counter", 2, ttl_s=0.3) for _ in range(50)))
    assert sorted(results) == list(range(2, 101, 2))
    assert await kv.get("counter") == b"100"
    await asyncio.sleep(0.45)
    assert await kv.get("counter") is None
    assert await kv.incr("counter") == 1


async def test_lock_excludes_and_expires(kv: KV) -> None:
    async with kv.lock("job", ttl_s=5):
        with pytest.raises(LockNotAcquired):
            async with kv.lock("job", ttl_s=5):
                pass
    async with kv.lock("job", ttl_s=5):  # released on exit
        pass
    async with kv.lock("short", ttl_s=0.2):
        await asyncio.sleep(0.35)
        async with kv.lock("short", ttl_s=1):  # the first holder's lease expired
            pass


async def test_lock_waits_when_asked(kv: KV) -> None:
    order: list[str] = []

    async def holder() -> None:
        async with kv.lock("wait", ttl_s=5):
            order.append("first")
            await asyncio.sleep(0.2)

    task = asyncio.create_task(holder())
    await asyncio.sleep(0.05)
    async with kv.lock("wait", ttl_s=5, blocking_timeout_s=2):
        order.append("second")
    await task
    assert order == ["first", "second"]


async def test_ping_answers_for_a_live_redis(redis_url) -> None:  # type: ignore[no-untyped-def]
    """The in-process backend has nothing to reach (its ping returns at once), so only Redis is pinged."""
    if not redis_url:
        require_or_skip("OCO_TEST_REDIS_URL")
    backend = RedisKV(redis_url, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    try:
        await backend.ping()
    finally:
        await backend.close()


async def test_ping_raises_when_redis_is_unreachable() -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, then released
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = RedisKV(f"redis://127.0.0.1:{port}/0")
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            await backend.ping()
    finally:
        await backend.close()
