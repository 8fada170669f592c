"""SQL of storage_locations, and who still refers to a location (schedules, backups with archives)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aegis.backups.phase import Phase
from aegis.backups.tables import backup_jobs, backup_records
from aegis.locations.tables import storage_locations
from oco.pagination import PageParams, paginate
from oco.timeutil import utcnow


async def insert_location(
    conn: AsyncConnection, *, name: str, type_: str, config: dict[str, Any], created_by: str | None
) -> int:
    result = await conn.execute(
        sa.insert(storage_locations)
        .values(name=name, type=type_, config=config, created_by=created_by, created_at=utcnow())
        .returning(storage_locations.c.id)
    )
    return int(result.scalar_one())


async def get_location(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    row = (
        (await conn.execute(sa.select(storage_locations).where(storage_locations.c.name == name)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def list_locations(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = (await conn.execute(sa.select(storage_locations).order_by(storage_locations.c.name))).mappings()
    return [dict(r) for r in rows]


async def page_locations(conn: AsyncConnection, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of storage locations by name, and how many there are."""
    return await paginate(conn, sa.select(storage_locations).order_by(storage_locations.c.name), page)


async def update_config(conn: AsyncConnection, name: str, config: dict[str, Any]) -> None:
    await conn.execute(
        sa.update(storage_locations).where(storage_locations.c.name == name).values(config=config)
    )


async def delete_location(conn: AsyncConnection, name: str) -> bool:
    result = await conn.execute(sa.delete(storage_locations).where(storage_locations.c.name == name))
    return bool(result.rowcount)


async def references(conn: AsyncConnection, name: str) -> tuple[int, int]:
    """(schedules, backups that hold or will hold an archive) stored in the location."""
    schedules = (
        await conn.execute(
            sa.select(sa.func.count()).select_from(backup_jobs).where(backup_jobs.c.storage_location == name)
        )
    ).scalar_one()
    backups = (
        await conn.execute(
            sa.select(sa.func.count())
            .select_from(backup_records)
            .where(
                backup_records.c.storage_location == name,
                backup_records.c.phase.not_in([Phase.DELETED, Phase.FAILED]),
            )
        )
    ).scalar_one()
    return int(schedules), int(backups)
