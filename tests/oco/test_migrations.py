"""Migrations: upgrade from empty and downgrade to base, on SQLite and (with OCO_TEST_DATABASE_URL) PostgreSQL;
deploy/docker/init.sql is the rendering of the current history."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import sqlalchemy as sa

from oco import migrations
from oco.db import Database
from oco.migrations.sql import render_sql
from tests.conftest import require_or_skip

ROOT = Path(__file__).resolve().parents[2]


async def _tables(url: str) -> set[str]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await db.dispose()


async def _roundtrip(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        await migrations.downgrade_engine(db.engine, "base")
        assert await migrations.current_revision_engine(db.engine) is None
        await migrations.upgrade_engine(db.engine)
        assert await migrations.current_revision_engine(db.engine) == migrations.head_revision()
    finally:
        await db.dispose()
    assert "api_keys" in await _tables(url)
    db = Database(url, pool_size=1)
    try:
        await migrations.downgrade_engine(db.engine, "base")
    finally:
        await db.dispose()
    assert await _tables(url) <= {"alembic_version"}


async def test_sqlite_upgrade_and_downgrade(tmp_path) -> None:  # type: ignore[no-untyped-def]
    await _roundtrip(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


async def test_postgresql_upgrade_and_downgrade() -> None:
    url = os.environ.get("OCO_TEST_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        require_or_skip("OCO_TEST_DATABASE_URL (PostgreSQL)")
    # a private schema (search_path) keeps this round trip away from the session's migrated tables
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    admin = Database(url, pool_size=1)
    async with admin.engine.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        await _roundtrip_pg(url, schema)
    finally:
        async with admin.engine.begin() as conn:
            await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


async def _roundtrip_pg(url: str, schema: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        await migrations.upgrade_engine(engine)
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names(schema=schema)))
        assert "api_keys" in names
        await migrations.downgrade_engine(engine, "base")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names(schema=schema)))
        assert names <= {"alembic_version"}
    finally:
        await engine.dispose()


def test_init_sql_is_current() -> None:
    committed = (ROOT / "deploy" / "docker" / "init.sql").read_text()
    assert committed == render_sql(), "deploy/docker/init.sql is stale: run `make init-sql`"
