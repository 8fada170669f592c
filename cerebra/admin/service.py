"""The admin API's operations: each write goes through the kernel's key store (or the team/org tables)
and leaves an audit row in the same transaction; a key's team and org become rows when first named."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cerebra.admin.tables import cerebra_orgs, cerebra_teams
from cerebra.control.rules import RuleBook
from oco import audit
from oco.auth import CreatedKey, KeyStore, Principal, WriteHook
from oco.db import Database
from oco.errors import Conflict
from oco.pagination import PageParams, paginate
from oco.tables import api_keys
from oco.timeutil import utcnow

SERVICE = "cerebra"
#: what makes two rules the same target (a second one is a 409)
TARGET_COLUMNS = {
    "rate_limit": ("scope", "scope_id", "model"),
    "budget": ("scope", "scope_id", "model", "period"),
}
PUBLIC_KEY_COLUMNS = [c for c in api_keys.c if c.name != "key_hash"]


class AdminService:
    """Keys, teams and orgs, audited."""

    def __init__(self, database: Database, keys: KeyStore, rules: RuleBook | None = None) -> None:
        self.database = database
        self.keys = keys
        self.rules = rules

    async def rules_changed(self) -> None:
        """Apply a rate-limit or budget write on this replica at once (others within the refresh)."""
        if self.rules is not None:
            await self.rules.reload()

    # -- rules: rate limits and budgets (same shape: a row per target, audited) ---------------------
    async def create_rule(
        self, table: sa.Table, entity: str, values: dict[str, Any], actor: Principal
    ) -> dict[str, Any]:
        now = utcnow()
        row = {**values, "model": values.get("model") or "", "created_at": now, "updated_at": now}
        async with self.database.session() as session:
            target = [table.c[name] == row[name] for name in TARGET_COLUMNS[entity]]
            if (await session.execute(sa.select(table.c.id).where(*target))).first() is not None:
                raise Conflict(
                    f"a {entity.replace('_', ' ')} for this target exists: change or delete it",
                    code=f"{entity}_exists",
                )
            new_id = (await session.execute(table.insert().values(**row).returning(table.c.id))).scalar_one()
            row["id"] = new_id
            await audit.record(
                session,
                service=SERVICE,
                actor=actor,
                action="create",
                entity=entity,
                entity_id=new_id,
                after=row,
            )
        await self.rules_changed()
        return row

    async def rule_page(
        self, table: sa.Table, page: PageParams, **filters: str | None
    ) -> tuple[list[dict[str, Any]], int]:
        where = [table.c[name] == value for name, value in filters.items() if value is not None]
        async with self.database.engine.connect() as conn:
            return await paginate(conn, sa.select(table).where(*where).order_by(table.c.id), page)

    async def get_rule(self, table: sa.Table, rule_id: int) -> dict[str, Any] | None:
        async with self.database.sessions() as session:
            row = (await session.execute(sa.select(table).where(table.c.id == rule_id))).mappings().first()
        return dict(row) if row else None

    async def update_rule(
        self, table: sa.Table, entity: str, rule_id: int, changes: dict[str, Any], actor: Principal
    ) -> dict[str, Any] | None:
        async with self.database.session() as session:
            before = (
                (await session.execute(sa.select(table).where(table.c.id == rule_id).with_for_update()))
                .mappings()
                .first()
            )
            if before is None:
                return None
            after = {**dict(before), **changes, "updated_at": utcnow()}
            await session.execute(
                table.update().where(table.c.id == rule_id).values(**changes, updated_at=after["updated_at"])
            )
            await audit.record(
                session,
                service=SERVICE,
                actor=actor,
                action="update",
                entity=entity,
                entity_id=rule_id,
                before=dict(before),
                after=after,
            )
        await self.rules_changed()
        return after

    async def delete_rule(self, table: sa.Table, entity: str, rule_id: int, actor: Principal) -> bool:
        async with self.database.session() as session:
            before = (await session.execute(sa.select(table).where(table.c.id == rule_id))).mappings().first()
            if before is None:
                return False
            await session.execute(table.delete().where(table.c.id == rule_id))
            await audit.record(
                session,
                service=SERVICE,
                actor=actor,
                action="delete",
                entity=entity,
                entity_id=rule_id,
                before=dict(before),
            )
        await self.rules_changed()
        return True

    def _audit(self, actor: Principal, action: str, entity: str) -> WriteHook:
        async def hook(session: AsyncSession, before: dict | None, after: dict) -> None:
            await ensure_team_and_org(session, after.get("team"), after.get("org"))
            await audit.record(
                session,
                service=SERVICE,
                actor=actor,
                action=action,
                entity=entity,
                entity_id=after["id"],
                before=before,
                after=after,
            )

        return hook

    # -- keys -------------------------------------------------------------------------------------
    async def create_key(self, values: dict[str, Any], actor: Principal) -> CreatedKey:
        return await self.keys.create(
            values["name"],
            values["scopes"],
            team=values.get("team"),
            org=values.get("org"),
            models=values.get("models"),
            expires_at=values.get("expires_at"),
            on_write=self._audit(actor, "create", "key"),
        )

    async def key_page(self, page: PageParams) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await paginate(conn, sa.select(*PUBLIC_KEY_COLUMNS).order_by(api_keys.c.id), page)

    async def get_key(self, key_id: int) -> dict[str, Any] | None:
        return await self.keys.get(key_id)

    async def update_key(
        self, key_id: int, changes: dict[str, Any], actor: Principal
    ) -> dict[str, Any] | None:
        if not changes:
            return await self.keys.get(key_id)
        after = await self.keys.update(key_id, changes, on_write=self._audit(actor, "update", "key"))
        return None if after is None else await self.keys.get(key_id)

    async def revoke_key(self, key_id: int, actor: Principal) -> bool:
        return await self.keys.revoke(key_id, on_write=self._audit(actor, "revoke", "key"))

    # -- teams and orgs ---------------------------------------------------------------------------
    async def create_team(self, values: dict[str, Any], actor: Principal) -> dict[str, Any]:
        row = {**values, "created_at": utcnow()}
        async with self.database.session() as session:
            if await _exists(session, cerebra_teams, values["name"]):
                raise Conflict(f"team {values['name']!r} exists", code="team_exists")
            await ensure_team_and_org(session, None, values.get("org"))
            await session.execute(cerebra_teams.insert().values(**row))
            await audit.record(
                session,
                service=SERVICE,
                actor=actor,
                action="create",
                entity="team",
                entity_id=row["name"],
                after=row,
            )
        return row

    async def create_org(self, values: dict[str, Any], actor: Principal) -> dict[str, Any]:
        row = {**values, "created_at": utcnow()}
        async with self.database.session() as session:
            if await _exists(session, cerebra_orgs, values["name"]):
                raise Conflict(f"org {values['name']!r} exists", code="org_exists")
            await session.execute(cerebra_orgs.insert().values(**row))
            await audit.record(
                session,
                service=SERVICE,
                actor=actor,
                action="create",
                entity="org",
                entity_id=row["name"],
                after=row,
            )
        return row

    async def page(self, table: sa.Table, page: PageParams) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await paginate(conn, sa.select(table).order_by(table.c.name), page)

    async def get(self, table: sa.Table, name: str) -> dict[str, Any] | None:
        async with self.database.sessions() as session:
            row = (await session.execute(sa.select(table).where(table.c.name == name))).mappings().first()
        return dict(row) if row else None

    # -- audit ------------------------------------------------------------------------------------
    async def audit_page(
        self, entity: str | None, entity_id: str | None, page: PageParams
    ) -> tuple[list[dict[str, Any]], int]:
        async with self.database.sessions() as session:
            return await audit.entries(
                session, entity=entity, entity_id=entity_id, limit=page.limit, offset=page.offset
            )


async def _exists(session: AsyncSession, table: sa.Table, name: str) -> bool:
    return (await session.execute(sa.select(table.c.name).where(table.c.name == name))).first() is not None


async def ensure_team_and_org(session: AsyncSession, team: str | None, org: str | None) -> None:
    """Make rows of a team and an org named by a key or a team (a new team takes the key's org)."""
    if org is not None and not await _exists(session, cerebra_orgs, org):
        await session.execute(cerebra_orgs.insert().values(name=org, created_at=utcnow()))
    if team is not None and not await _exists(session, cerebra_teams, team):
        await session.execute(cerebra_teams.insert().values(name=team, org=org, created_at=utcnow()))
