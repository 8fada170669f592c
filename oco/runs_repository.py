"""SQL of oco.runs: read the unfinished records of a run table, stamp owners and heartbeats, write live
progress, mark records failed. Every function takes the caller's connection and a RunTable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from oco.runs import RunTable


@dataclass(frozen=True)
class UnfinishedRun:
    """What the reaper needs to judge one unfinished record."""

    id: int
    owner: str | None
    heartbeat_at: datetime | None
    created_at: datetime | None


def _unfinished(spec: RunTable) -> Any:
    return spec.status.in_(spec.unfinished)


async def unfinished_runs(conn: AsyncConnection, spec: RunTable) -> list[UnfinishedRun]:
    """Every record still in one of the table's unfinished states."""
    rows = await conn.execute(
        sa.select(spec.id, spec.owner, spec.heartbeat_at, spec.created_at).where(_unfinished(spec))
    )
    return [UnfinishedRun(int(r[0]), r[1], r[2], r[3]) for r in rows]


async def claim(conn: AsyncConnection, spec: RunTable, run_id: int, owner: str, now: datetime) -> None:
    """Name ``owner`` as the process running a record and give it a fresh heartbeat."""
    await conn.execute(
        sa.update(spec.table)
        .where(spec.id == run_id)
        .values({spec.owner.name: owner, spec.heartbeat_at.name: now})
    )


async def beat(conn: AsyncConnection, spec: RunTable, ids: Iterable[int], now: datetime) -> None:
    """Refresh the heartbeat of the unfinished records among ``ids``."""
    ids = list(ids)
    if ids:
        await conn.execute(
            sa.update(spec.table)
            .where(spec.id.in_(ids), _unfinished(spec))
            .values({spec.heartbeat_at.name: now})
        )


async def write_progress(
    conn: AsyncConnection, spec: RunTable, run_id: int, values: Mapping[str, Any], now: datetime
) -> None:
    """Write a run's live progress columns (and a heartbeat) while it is unfinished."""
    await conn.execute(
        sa.update(spec.table)
        .where(spec.id == run_id, _unfinished(spec))
        .values({**values, spec.heartbeat_at.name: now})
    )


async def fail(
    conn: AsyncConnection,
    spec: RunTable,
    ids: Iterable[int],
    message: str,
    now: datetime,
    *,
    unfinished_only: bool = True,
) -> list[int]:
    """Mark records failed with ``message`` (by default only those still unfinished); the ids marked."""
    ids = list(ids)
    if not ids:
        return []
    where = [spec.id.in_(ids)]
    if unfinished_only:
        where.append(_unfinished(spec))
    values = {spec.status.name: spec.failed, **spec.error_values(message), spec.finished_at.name: now}
    result = await conn.execute(sa.update(spec.table).where(*where).values(values).returning(spec.id))
    return [int(i) for i in result.scalars()]
