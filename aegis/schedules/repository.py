"""SQL of backup_jobs (schedules): create, read, list, update, delete, the due ones, and the optimistic
advance that keeps two schedulers from firing the same run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aegis.backups.tables import backup_jobs
from oco.pagination import PageParams, paginate


async def insert_job(conn: AsyncConnection, **values: Any) -> int:
    result = await conn.execute(sa.insert(backup_jobs).values(**values).returning(backup_jobs.c.id))
    return int(result.scalar_one())


async def get_job(conn: AsyncConnection, job_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(backup_jobs).where(backup_jobs.c.id == job_id))).mappings().first()
    return dict(row) if row else None


async def name_taken(conn: AsyncConnection, name: str) -> bool:
    return (
        await conn.execute(sa.select(backup_jobs.c.id).where(backup_jobs.c.name == name))
    ).first() is not None


async def list_jobs(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = (await conn.execute(sa.select(backup_jobs).order_by(backup_jobs.c.name))).mappings()
    return [dict(r) for r in rows]


async def page_jobs(conn: AsyncConnection, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of schedules by name, and how many there are."""
    return await paginate(conn, sa.select(backup_jobs).order_by(backup_jobs.c.name), page)


async def update_job(conn: AsyncConnection, job_id: int, **values: Any) -> None:
    await conn.execute(sa.update(backup_jobs).where(backup_jobs.c.id == job_id).values(**values))


async def delete_job(conn: AsyncConnection, job_id: int) -> bool:
    result = await conn.execute(sa.delete(backup_jobs).where(backup_jobs.c.id == job_id))
    return bool(result.rowcount)


async def due_jobs(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
    """Enabled schedules whose next run is due, oldest first."""
    rows = (
        await conn.execute(
            sa.select(backup_jobs)
            .where(
                backup_jobs.c.enabled.is_(True),
                backup_jobs.c.cron.is_not(None),
                backup_jobs.c.next_run_at.is_not(None),
                backup_jobs.c.next_run_at <= now,
            )
            .order_by(backup_jobs.c.next_run_at)
        )
    ).mappings()
    return [dict(r) for r in rows]


async def advance_job(
    conn: AsyncConnection,
    job_id: int,
    expected_next: datetime,
    *,
    next_run_at: datetime,
    missed: int,
    ran_at: datetime | None,
) -> bool:
    """Move a due schedule to its next fire time, unless another scheduler already did (False then)."""
    values: dict[str, Any] = {
        "next_run_at": next_run_at,
        "missed_runs": backup_jobs.c.missed_runs + missed,
    }
    if ran_at is not None:
        values["last_run_at"] = ran_at
    result = await conn.execute(
        sa.update(backup_jobs)
        .where(backup_jobs.c.id == job_id, backup_jobs.c.next_run_at == expected_next)
        .values(**values)
    )
    return bool(result.rowcount)


async def jobs_with_keep_last(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = (await conn.execute(sa.select(backup_jobs).where(backup_jobs.c.keep_last.is_not(None)))).mappings()
    return [dict(r) for r in rows]
