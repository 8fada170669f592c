"""SQL of dr_plans and dr_runs, and the read of backup_records the plans' compliance needs (the newest
Completed backups of a cluster). Every function takes the caller's connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aegis.backups.phase import UNFINISHED, Phase
from aegis.backups.tables import backup_jobs, backup_records
from aegis.dr.tables import dr_plans, dr_runs
from oco.pagination import PageParams, paginate

#: how many recent Completed backups of a cluster are examined for one covering a plan's scope
RECENT_BACKUPS = 200


def _plans() -> sa.Select[Any]:
    return sa.select(dr_plans, backup_jobs.c.cron.label("schedule_cron")).select_from(
        dr_plans.outerjoin(backup_jobs, backup_jobs.c.id == dr_plans.c.schedule_id)
    )


async def insert_plan(conn: AsyncConnection, **values: Any) -> int:
    result = await conn.execute(sa.insert(dr_plans).values(**values).returning(dr_plans.c.id))
    return int(result.scalar_one())


async def get_plan(conn: AsyncConnection, plan_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(_plans().where(dr_plans.c.id == plan_id))).mappings().first()
    return dict(row) if row else None


async def plan_name_taken(conn: AsyncConnection, name: str) -> bool:
    return (await conn.execute(sa.select(dr_plans.c.id).where(dr_plans.c.name == name))).first() is not None


async def page_plans(conn: AsyncConnection, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    return await paginate(conn, _plans().order_by(dr_plans.c.name), page)


async def enabled_plans(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(_plans().where(dr_plans.c.enabled.is_(True)).order_by(dr_plans.c.id))
    ).mappings()
    return [dict(r) for r in rows]


async def update_plan(conn: AsyncConnection, plan_id: int, **values: Any) -> None:
    await conn.execute(sa.update(dr_plans).where(dr_plans.c.id == plan_id).values(**values))


async def delete_plan(conn: AsyncConnection, plan_id: int) -> None:
    await conn.execute(sa.delete(dr_runs).where(dr_runs.c.plan_id == plan_id))
    await conn.execute(sa.delete(dr_plans).where(dr_plans.c.id == plan_id))


async def due_drills(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            _plans().where(
                dr_plans.c.enabled.is_(True),
                dr_plans.c.drill_schedule.is_not(None),
                dr_plans.c.next_drill_at.is_not(None),
                dr_plans.c.next_drill_at <= now,
            )
        )
    ).mappings()
    return [dict(r) for r in rows]


async def advance_drill(conn: AsyncConnection, plan_id: int, due: datetime, next_at: datetime | None) -> bool:
    """Move a plan's next drill on, only if no one else did (two schedulers never fire one drill twice)."""
    result = await conn.execute(
        sa.update(dr_plans)
        .where(dr_plans.c.id == plan_id, dr_plans.c.next_drill_at == due)
        .values(next_drill_at=next_at)
    )
    return bool(result.rowcount)


async def completed_backups(conn: AsyncConnection, cluster: str) -> list[dict[str, Any]]:
    """The newest Completed backups of a cluster, newest end first."""
    rows = (
        await conn.execute(
            sa.select(backup_records)
            .where(backup_records.c.cluster == cluster, backup_records.c.phase == Phase.COMPLETED)
            .order_by(backup_records.c.finished_at.desc(), backup_records.c.id.desc())
            .limit(RECENT_BACKUPS)
        )
    ).mappings()
    return [dict(r) for r in rows]


async def backup_phase(conn: AsyncConnection, backup_id: int) -> str | None:
    row = (
        await conn.execute(sa.select(backup_records.c.phase).where(backup_records.c.id == backup_id))
    ).first()
    return str(row[0]) if row else None


async def has_unfinished_backup_for_job(conn: AsyncConnection, job_id: int) -> bool:
    row = await conn.execute(
        sa.select(backup_records.c.id)
        .where(backup_records.c.job_id == job_id, backup_records.c.phase.in_(UNFINISHED))
        .limit(1)
    )
    return row.first() is not None


# -- runs ------------------------------------------------------------------------------------------------


async def insert_run(conn: AsyncConnection, **values: Any) -> int:
    defaults: dict[str, Any] = {
        "options": {},
        "namespaces": {},
        "steps": [],
        "failed_checks": [],
        "replicas": {},
        "dry_run": False,
    }
    result = await conn.execute(sa.insert(dr_runs).values(**{**defaults, **values}).returning(dr_runs.c.id))
    return int(result.scalar_one())


async def get_run(conn: AsyncConnection, run_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(dr_runs).where(dr_runs.c.id == run_id))).mappings().first()
    return dict(row) if row else None


async def update_run(conn: AsyncConnection, run_id: int, **values: Any) -> None:
    await conn.execute(sa.update(dr_runs).where(dr_runs.c.id == run_id).values(**values))


async def page_runs(
    conn: AsyncConnection, plan_id: int, kinds: tuple[str, ...], page: PageParams
) -> tuple[list[dict[str, Any]], int]:
    statement = (
        sa.select(dr_runs)
        .where(dr_runs.c.plan_id == plan_id, dr_runs.c.kind.in_(kinds))
        .order_by(dr_runs.c.id.desc())
    )
    return await paginate(conn, statement, page)


async def latest_finished_drill(conn: AsyncConnection, plan_id: int) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                sa.select(dr_runs)
                .where(
                    dr_runs.c.plan_id == plan_id,
                    dr_runs.c.kind == "drill",
                    dr_runs.c.dry_run.is_(False),
                    dr_runs.c.phase.not_in(UNFINISHED),
                )
                .order_by(dr_runs.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def latest_completed_run(conn: AsyncConnection, plan_id: int, kind: str) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                sa.select(dr_runs)
                .where(
                    dr_runs.c.plan_id == plan_id,
                    dr_runs.c.kind == kind,
                    dr_runs.c.dry_run.is_(False),
                    dr_runs.c.phase == Phase.COMPLETED,
                )
                .order_by(dr_runs.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def active_run(conn: AsyncConnection, active_key: str) -> dict[str, Any] | None:
    row = (
        (await conn.execute(sa.select(dr_runs).where(dr_runs.c.active_key == active_key))).mappings().first()
    )
    return dict(row) if row else None
