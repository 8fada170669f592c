"""SQL of restore_records: create, read, page, update. Every function takes the caller's connection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aegis.restores.tables import restore_records
from oco.pagination import PageParams, paginate


async def insert_restore(conn: AsyncConnection, **values: Any) -> int:
    defaults: dict[str, Any] = {
        "items_total": 0,
        "items_done": 0,
        "created_count": 0,
        "updated_count": 0,
        "skipped_count": 0,
        "failed_count": 0,
        "results": [],
        "not_planned": {},
        "warnings": [],
    }
    result = await conn.execute(
        sa.insert(restore_records).values(**{**defaults, **values}).returning(restore_records.c.id)
    )
    return int(result.scalar_one())


async def name_taken(conn: AsyncConnection, name: str) -> bool:
    found = await conn.execute(sa.select(restore_records.c.id).where(restore_records.c.name == name))
    return found.first() is not None


async def get_restore(conn: AsyncConnection, restore_id: int) -> dict[str, Any] | None:
    row = (
        (await conn.execute(sa.select(restore_records).where(restore_records.c.id == restore_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def list_restores(
    conn: AsyncConnection,
    page: PageParams,
    *,
    phase: str | None = None,
    backup_id: int | None = None,
    cluster: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of restores, newest first, and how many match."""
    where = []
    if phase:
        where.append(restore_records.c.phase == phase)
    if backup_id is not None:
        where.append(restore_records.c.backup_id == backup_id)
    if cluster:
        where.append(restore_records.c.cluster == cluster)
    statement = sa.select(restore_records).where(*where).order_by(restore_records.c.id.desc())
    return await paginate(conn, statement, page)


async def update_restore(conn: AsyncConnection, restore_id: int, **values: Any) -> None:
    await conn.execute(sa.update(restore_records).where(restore_records.c.id == restore_id).values(**values))
