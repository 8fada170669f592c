"""SQL of backup_records: create, read, page, update, and the queries retention needs (expired, surplus
per schedule, in use by a running restore). Every function takes the caller's connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aegis.backups.phase import RESTORABLE, UNFINISHED, Phase
from aegis.backups.tables import backup_records
from aegis.restores.tables import restore_records
from oco.pagination import PageParams, paginate
from oco.timeutil import utcnow


async def insert_backup(conn: AsyncConnection, **values: Any) -> int:
    defaults: dict[str, Any] = {
        "items_total": 0,
        "items_done": 0,
        "counts": {},
        "errors": [],
        "warnings": [],
        "size_bytes": 0,
        "encrypted": False,
    }
    result = await conn.execute(
        sa.insert(backup_records).values(**{**defaults, **values}).returning(backup_records.c.id)
    )
    return int(result.scalar_one())


async def get_backup(conn: AsyncConnection, backup_id: int) -> dict[str, Any] | None:
    row = (
        (await conn.execute(sa.select(backup_records).where(backup_records.c.id == backup_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def name_taken(conn: AsyncConnection, name: str) -> bool:
    found = await conn.execute(sa.select(backup_records.c.id).where(backup_records.c.name == name))
    return found.first() is not None


async def list_backups(
    conn: AsyncConnection,
    page: PageParams,
    *,
    phase: str | None = None,
    cluster: str | None = None,
    job_id: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of backups, newest first, and how many match."""
    where = []
    if phase:
        where.append(backup_records.c.phase == phase)
    if cluster:
        where.append(backup_records.c.cluster == cluster)
    if job_id is not None:
        where.append(backup_records.c.job_id == job_id)
    statement = sa.select(backup_records).where(*where).order_by(backup_records.c.id.desc())
    return await paginate(conn, statement, page)


async def update_backup(conn: AsyncConnection, backup_id: int, **values: Any) -> None:
    await conn.execute(sa.update(backup_records).where(backup_records.c.id == backup_id).values(**values))


async def record_outcome(conn: AsyncConnection, backup_id: int, **values: Any) -> None:
    """Write a finished run's outcome (unless the record was deleted meanwhile)."""
    await conn.execute(
        sa.update(backup_records)
        .where(backup_records.c.id == backup_id, backup_records.c.phase != Phase.DELETED)
        .values(**values)
    )


async def mark_deleted(conn: AsyncConnection, backup_id: int, at: datetime) -> None:
    await conn.execute(
        sa.update(backup_records)
        .where(backup_records.c.id == backup_id)
        .values(phase=Phase.DELETED, deleted_at=at)
    )


async def has_running_restore(conn: AsyncConnection, backup_id: int) -> bool:
    found = await conn.execute(
        sa.select(restore_records.c.id).where(
            restore_records.c.backup_id == backup_id, restore_records.c.phase.in_(UNFINISHED)
        )
    )
    return found.first() is not None


def _not_retained(now: datetime) -> sa.ColumnElement[bool]:
    """No Object Lock retention holds the archive at ``now`` (retention waits for it to pass)."""
    return sa.or_(backup_records.c.retain_until.is_(None), backup_records.c.retain_until <= now)


def _not_being_restored() -> sa.ColumnElement[bool]:
    busy = sa.select(restore_records.c.backup_id).where(restore_records.c.phase.in_(UNFINISHED))
    return backup_records.c.id.not_in(busy)


async def expired_backups(conn: AsyncConnection, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Finished backups past their expiry that no running restore reads."""
    rows = (
        await conn.execute(
            sa.select(backup_records)
            .where(
                backup_records.c.expires_at <= now,
                backup_records.c.phase.not_in([*UNFINISHED, Phase.DELETED]),
                _not_being_restored(),
                _not_retained(now),
            )
            .order_by(backup_records.c.expires_at)
            .limit(limit)
        )
    ).mappings()
    return [dict(r) for r in rows]


async def surplus_backups(
    conn: AsyncConnection, job_id: int, keep_last: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """A schedule's successful backups beyond the newest ``keep_last`` (not read by a running restore,
    not held by an Object Lock retention: those wait until it passes)."""
    keep_ids = [
        int(i)
        for i in (
            await conn.execute(
                sa.select(backup_records.c.id)
                .where(backup_records.c.job_id == job_id, backup_records.c.phase.in_(RESTORABLE))
                .order_by(backup_records.c.id.desc())
                .limit(keep_last)
            )
        ).scalars()
    ]
    where = [
        backup_records.c.job_id == job_id,
        backup_records.c.phase.in_(RESTORABLE),
        _not_being_restored(),
        _not_retained(now or utcnow()),
    ]
    if keep_ids:
        where.append(backup_records.c.id.not_in(keep_ids))
    rows = (
        await conn.execute(sa.select(backup_records).where(*where).order_by(backup_records.c.id))
    ).mappings()
    return [dict(r) for r in rows]


async def has_unfinished_for_job(conn: AsyncConnection, job_id: int) -> bool:
    found = await conn.execute(
        sa.select(backup_records.c.id).where(
            backup_records.c.job_id == job_id, backup_records.c.phase.in_(UNFINISHED)
        )
    )
    return found.first() is not None
