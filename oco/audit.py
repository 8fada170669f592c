"""The audit log of admin writes: who (the key's id and name), when, what (action, entity, id), and
the entity before and after, written in the same transaction as the change it records."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from oco.tables import audit_log
from oco.timeutil import utcnow

if TYPE_CHECKING:
    from oco.auth import Principal

SECRET_FIELDS = frozenset({"key_hash", "key", "plaintext", "api_key", "secret"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


async def record(
    session: AsyncSession,
    *,
    service: str,
    actor: Principal | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add one audit row to `session`'s transaction (secrets never recorded)."""
    await session.execute(
        audit_log.insert().values(
            at=utcnow(),
            service=service,
            actor_key_id=actor.key_id if actor else None,
            actor=actor.name if actor else None,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=_jsonable(before) if before is not None else None,
            after=_jsonable(after) if after is not None else None,
        )
    )


async def entries(
    session: AsyncSession, *, entity: str | None, entity_id: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Newest first, optionally for one entity (and id)."""
    where = []
    if entity is not None:
        where.append(audit_log.c.entity == entity)
    if entity_id is not None:
        where.append(audit_log.c.entity_id == entity_id)
    total = (
        await session.execute(sa.select(sa.func.count()).select_from(audit_log).where(*where))
    ).scalar_one()
    rows = (
        await session.execute(
            sa.select(audit_log).where(*where).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        )
    ).mappings()
    return [dict(r) for r in rows], total
