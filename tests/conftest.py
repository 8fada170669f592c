"""Shared fixtures: the test database (SQLite by default, PostgreSQL with OCO_TEST_DATABASE_URL), the
optional real Redis (OCO_TEST_REDIS_URL) and service apps served in-process over ASGI."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from oco import migrations
from oco.auth import KeyStore
from oco.db import Database
from oco.settings import PlatformSettings

REQUIRE_SERVICES = os.environ.get("OCO_REQUIRE_SERVICES", "") == "1"


def require_or_skip(what: str) -> None:
    """Skip a test that needs a server, or fail when OCO_REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (OCO_REQUIRE_SERVICES=1) but not configured")
    pytest.skip(f"{what} not configured")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database at head: the PostgreSQL of OCO_TEST_DATABASE_URL or a fresh SQLite file."""
    url = os.environ.get("OCO_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        migrations.downgrade(url, "base")
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    """OCO_TEST_REDIS_URL or None (the in-process backend). The test database is emptied at the start
    of the session so state from a previous run (cooldowns, counters) cannot leak into this one."""
    url = os.environ.get("OCO_TEST_REDIS_URL") or None
    if url:
        import redis

        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
    return url


@pytest.fixture
def settings(database_url: str, redis_url: str | None, tmp_path: Path) -> PlatformSettings:
    """Platform settings for an app under test (no .env file is read)."""
    return PlatformSettings(
        _env_file=None,
        oco_database_url=database_url,
        redis_url=redis_url,
        oco_data_dir=tmp_path,
        oco_auth_cache_ttl_s=0.2,
    )


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A Database on the test schema."""
    db = Database(database_url, pool_size=2)
    yield db
    await db.dispose()


@pytest.fixture
async def keystore(database: Database) -> KeyStore:
    """A key store with a short cache TTL."""
    return KeyStore(database, cache_ttl_s=0.2)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique names so tests sharing one database never collide."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable]:
    """Start an ASGI app with its lifespan and return an httpx client bound to it."""
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def start(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
        manager = LifespanManager(app, startup_timeout=60, shutdown_timeout=60)
        await manager.__aenter__()
        managers.append(manager)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test")
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for manager in reversed(managers):
        await manager.__aexit__(None, None, None)


async def table_rows(database: Database, table: str) -> list[dict]:
    """Every row of a table as dicts (test helper)."""
    async with database.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.text(f"SELECT * FROM {table}"))).mappings()]  # noqa: S608
