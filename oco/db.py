"""Async SQLAlchemy engine and sessions: embedded SQLite by default, PostgreSQL for real deployments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


class UtcSQLiteDateTime(sqlite.DATETIME):
    """SQLite's DATETIME read back as timezone-aware UTC (written as UTC, with the offset dropped)."""

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        parse = super().result_processor(dialect, coltype)

        def process(value: Any) -> Any:
            parsed = parse(value) if parse is not None else value
            if isinstance(parsed, datetime) and parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed

        return process


def is_sqlite(url: str) -> bool:
    """True for an SQLite URL (the embedded default)."""
    return url.startswith("sqlite")


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url`; SQLite gets WAL and a busy timeout so three services can share the file."""
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # SQLite keeps no offset: hand back timestamps as the UTC they were stored as (DESIGN: every stored
        # timestamp is UTC), so answers are RFC 3339 date-times on both back ends
        engine.sync_engine.dialect.colspecs = {
            **engine.sync_engine.dialect.colspecs,
            sa.DateTime: UtcSQLiteDateTime,
        }
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Database:
    """One engine and session factory for a service process."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits on success and rolls back on error."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        """Raise unless the database answers `SELECT 1`."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def timescaledb_available(conn: Connection) -> bool:
    """True when the connection is PostgreSQL with the `timescaledb` extension installed (sync, for migrations)."""
    if conn.dialect.name != "postgresql":
        return False
    row = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first()
    return row is not None
