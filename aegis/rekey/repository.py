"""SQL of rekey: the archives not on the current key, the switch of a backup row to its new object, and the
rekey_runs records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aegis.backups.phase import RESTORABLE, UNFINISHED
from aegis.backups.tables import backup_records
from aegis.rekey.tables import rekey_runs
from aegis.restores.tables import restore_records
from oco.pagination import PageParams, paginate


def _being_restored() -> sa.ColumnElement[bool]:
    busy = sa.select(restore_records.c.backup_id).where(restore_records.c.phase.in_(UNFINISHED))
    return backup_records.c.id.in_(busy)


async def candidates(
    conn: AsyncConnection,
    current_key_id: str,
    *,
    include_unencrypted: bool,
    storage_location: str | None = None,
) -> list[dict[str, Any]]:
    """Backups with an archive that is not known to be sealed with the current key (encrypted with another
    key id or none recorded, and with ``include_unencrypted`` also plain ones), oldest first; only those
    of ``storage_location`` when given."""
    not_current = sa.and_(
        backup_records.c.encrypted.is_(True),
        sa.or_(
            backup_records.c.encryption_key_id.is_(None),
            backup_records.c.encryption_key_id != current_key_id,
        ),
    )
    which = sa.or_(not_current, backup_records.c.encrypted.is_(False)) if include_unencrypted else not_current
    where = [backup_records.c.phase.in_(RESTORABLE), which]
    if storage_location is not None:
        where.append(backup_records.c.storage_location == storage_location)
    rows = (
        await conn.execute(sa.select(backup_records).where(*where).order_by(backup_records.c.id))
    ).mappings()
    return [dict(r) for r in rows]


async def being_restored(conn: AsyncConnection, backup_id: int) -> bool:
    found = await conn.execute(
        sa.select(restore_records.c.id).where(
            restore_records.c.backup_id == backup_id, restore_records.c.phase.in_(UNFINISHED)
        )
    )
    return found.first() is not None


async def switch_archive(
    conn: AsyncConnection,
    backup: dict[str, Any],
    *,
    storage_key: str,
    sha256: str,
    size_bytes: int,
    key_id: str,
    retain_until: datetime | None,
) -> bool:
    """Point the backup at its new object, only if it still points at the old one, still has an archive
    and no restore reads it; False (nothing changed) otherwise."""
    result = await conn.execute(
        sa.update(backup_records)
        .where(
            backup_records.c.id == backup["id"],
            backup_records.c.storage_key == backup["storage_key"],
            backup_records.c.sha256 == backup["sha256"],
            backup_records.c.phase.in_(RESTORABLE),
            sa.not_(_being_restored()),
        )
        .values(
            storage_key=storage_key,
            sha256=sha256,
            size_bytes=size_bytes,
            encrypted=True,
            encryption_key_id=key_id,
            retain_until=retain_until,
        )
    )
    return bool(result.rowcount)


async def insert_run(conn: AsyncConnection, **values: Any) -> int:
    defaults: dict[str, Any] = {"items_total": 0, "items_done": 0, "counts": {}, "items": []}
    result = await conn.execute(
        sa.insert(rekey_runs).values(**{**defaults, **values}).returning(rekey_runs.c.id)
    )
    return int(result.scalar_one())


async def update_run(conn: AsyncConnection, run_id: int, **values: Any) -> None:
    await conn.execute(sa.update(rekey_runs).where(rekey_runs.c.id == run_id).values(**values))


async def get_run(conn: AsyncConnection, run_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(rekey_runs).where(rekey_runs.c.id == run_id))).mappings().first()
    return dict(row) if row else None


async def list_runs(conn: AsyncConnection, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    return await paginate(conn, sa.select(rekey_runs).order_by(rekey_runs.c.id.desc()), page)


async def has_unfinished_run(conn: AsyncConnection) -> bool:
    found = await conn.execute(
        sa.select(rekey_runs.c.id).where(rekey_runs.c.phase.in_(UNFINISHED), rekey_runs.c.dry_run.is_(False))
    )
    return found.first() is not None
