"""Alembic entry points: upgrade, downgrade and current revision of the one shared schema history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from oco.db import create_engine

MIGRATIONS_DIR = Path(__file__).parent

T = TypeVar("T")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config pointing at this folder (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision in the history."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _with_connection(conn: Connection, action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    getattr(command, action)(config, revision)


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the schema behind an existing async engine (used on embedded start-up and in tests)."""
    async with engine.begin() as conn:
        await conn.run_sync(_with_connection, "upgrade", revision)


async def downgrade_engine(engine: AsyncEngine, revision: str = "base") -> None:
    """Downgrade the schema behind an existing async engine."""
    async with engine.begin() as conn:
        await conn.run_sync(_with_connection, "downgrade", revision)


async def current_revision_engine(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def _run(url: str, coro_factory: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(url, pool_size=1)
        try:
            return await coro_factory(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` (sync wrapper for the CLI)."""
    _run(url, lambda engine: upgrade_engine(engine, revision))


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at `url` (sync wrapper for the CLI)."""
    _run(url, lambda engine: downgrade_engine(engine, revision))


def current(url: str) -> str | None:
    """Current revision of the database at `url` (sync wrapper for the CLI)."""
    return _run(url, current_revision_engine)
