"""Governance SQL: policies and violations, and the aggregations policies are judged on (one grouped scan of
the ledger's window per policy, or of the daily rollup when the scope allows; never the rows in memory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from economist.governance.tables import governance_policies as policies
from economist.governance.tables import policy_violations as violations
from economist.ingestion.slices import day_start
from economist.ledger.tables import cloud_costs, cloud_costs_daily, money_order, money_sum
from economist.ledger.tags import tag_value
from oco.pagination import PageParams, paginate

UNRESOLVED = ("open", "acknowledged", "suppressed")


@dataclass(frozen=True)
class Window:
    """Ledger rows charged in [start, end) matching the scope (`tags` keys already normalized)."""

    start: date
    end: date
    provider: str | None = None
    account: str | None = None
    service: str | None = None
    region: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def rollup_ok(self) -> bool:
        return not self.tags


class _View:
    """The window's table (raw ledger or daily rollup), its columns and WHERE clauses."""

    def __init__(self, window: Window, *, rollup: bool) -> None:
        if rollup:
            t = cloud_costs_daily
            self.table: Any = t
            self.account: Any = t.c.account_id
            self.where: list[Any] = [t.c.day >= window.start, t.c.day < window.end]
        else:
            t = cloud_costs
            self.table = t
            self.account = sa.func.coalesce(t.c.sub_account_id, t.c.billing_account_id)
            self.where = [
                t.c.charge_period_start >= day_start(window.start),
                t.c.charge_period_start < day_start(window.end),
            ]
        c = self.table.c
        self.c = c
        for column, value in (
            (c.provider_name, window.provider),
            (self.account, window.account),
            (c.service_name, window.service),
            (c.region_id, window.region),
        ):
            if value is not None:
                self.where.append(column == value)
        for key, value in window.tags:
            self.where.append(tag_value(cloud_costs.c.tags_normalized, key) == value)


#: work_mem of an evaluation's transaction on PostgreSQL: a per-resource aggregation has a group per
#: resource, which the 4 MB default would spill to disk many times over (server memory, per sort/hash node)
WORK_MEM = "128MB"


async def _roomy(conn: AsyncConnection) -> None:
    """PostgreSQL settings for the evaluation's transaction only: more work_mem, and no JIT (measured: it
    spent ~4 s compiling each 5M-row aggregation, more than it saved)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        await conn.execute(sa.text("SET LOCAL jit = off"))


def _over(cost: Any, threshold: Decimal, dialect: str) -> Any:
    """HAVING cost > threshold: exact on PostgreSQL; on SQLite (TEXT money) only a pre-filter on the float
    ordering key, widened below the threshold (for either sign) so it never drops a group the caller's exact
    Decimal comparison would keep. Money itself is never a float: the rows are read and compared as Decimal."""
    if dialect == "sqlite":
        bound = float(threshold)
        return money_order(cost, dialect) >= bound - abs(bound) * 1e-9 - 1e-9
    return cost > threshold


def _tag_compliant(required: list[str], allowed: dict[str, list[str]]) -> Any:
    """Rows carrying every required tag, and only allowed values of the tags `allowed` names (keys normalized)."""
    tags = cloud_costs.c.tags_normalized
    terms = [tag_value(tags, key).isnot(None) for key in required]
    for key, values in allowed.items():
        value = tag_value(tags, key)
        terms.append(sa.or_(value.is_(None), value.in_(values)))
    return sa.and_(*terms)


async def tag_coverage(
    conn: AsyncConnection, window: Window, required: list[str], allowed: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """In one scan, per currency and service: the total cost and the cost of tag-compliant rows."""
    dialect = conn.dialect.name
    await _roomy(conn)
    compliant = _tag_compliant(required, allowed)
    view = _View(window, rollup=False)
    amount = view.c.billed_cost
    statement = (
        sa.select(
            view.c.billing_currency.label("currency"),
            view.c.service_name.label("service"),
            money_sum(amount, dialect).label("total"),
            money_sum(sa.case((compliant, amount), else_=None), dialect).label("covered"),
        )
        .where(*view.where)
        .group_by(view.c.billing_currency, view.c.service_name)
    )
    return [dict(r) for r in (await conn.execute(statement)).mappings()]


async def outside_regions(
    conn: AsyncConnection, window: Window, allowed: list[str], min_cost: Decimal
) -> list[dict[str, Any]]:
    """Cost per resource, region and currency outside the allowed regions (rows with a region), above min_cost."""
    return await _grouped_over(
        conn,
        window,
        ["resource_id", "region_id"],
        condition=lambda c: sa.and_(c.region_id.isnot(None), c.region_id.not_in(allowed)),
        threshold=min_cost,
    )


async def refused_services(
    conn: AsyncConnection, window: Window, services: list[str], *, allow: bool, min_cost: Decimal
) -> list[dict[str, Any]]:
    """Cost per service and currency of the services an allow-list omits (or a deny-list names), above min_cost."""

    def refused(c: Any) -> Any:
        if allow:
            return sa.or_(c.service_name.is_(None), c.service_name.not_in(services))
        return c.service_name.in_(services)

    return await _grouped_over(conn, window, ["service_name"], condition=refused, threshold=min_cost)


async def resources_over(
    conn: AsyncConnection, window: Window, amount: Decimal, currency: str
) -> list[dict[str, Any]]:
    """Cost per resource in `currency` above `amount`."""
    return await _grouped_over(
        conn,
        window,
        ["resource_id"],
        condition=lambda c: c.resource_id.isnot(None),
        threshold=amount,
        currency=currency,
    )


async def _grouped_over(
    conn: AsyncConnection,
    window: Window,
    keys: list[str],
    *,
    condition: Any | None,
    threshold: Decimal,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """Cost grouped by `keys` (ledger column names) and currency over the window, where `condition(view)`
    holds, keeping groups whose cost is above `threshold` (exactly)."""
    dialect = conn.dialect.name
    await _roomy(conn)
    rollup = window.rollup_ok and all(k in ("provider_name", "service_name", "region_id") for k in keys)
    view = _View(window, rollup=rollup)
    where = list(view.where)
    if condition is not None:
        where.append(condition(view.c))
    if currency is not None:
        where.append(view.c.billing_currency == currency)
    group = [view.c[k] for k in keys] + [view.c.billing_currency]
    cost = money_sum(view.c.billed_cost, dialect)
    statement = (
        sa.select(*group, cost.label("cost"))
        .where(*where)
        .group_by(*group)
        .having(_over(cost, threshold, dialect))
        .order_by(*group)
    )
    rows = [dict(r) for r in (await conn.execute(statement)).mappings()]
    return [r for r in rows if r["cost"] is not None and r["cost"] > threshold]


# -- policies ---------------------------------------------------------------------------------------------


async def insert_policy(conn: AsyncConnection, values: dict[str, Any]) -> int:
    return int(
        (await conn.execute(sa.insert(policies).values(**values).returning(policies.c.id))).scalar_one()
    )


async def get_policy(conn: AsyncConnection, policy_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(policies).where(policies.c.id == policy_id))).mappings().first()
    return dict(row) if row else None


async def policy_by_name(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(policies).where(policies.c.name == name))).mappings().first()
    return dict(row) if row else None


async def list_policies(
    conn: AsyncConnection, page: PageParams, *, type_: str | None, enabled: bool | None
) -> tuple[list[dict[str, Any]], int]:
    statement = sa.select(policies).order_by(policies.c.id)
    if type_ is not None:
        statement = statement.where(policies.c.type == type_)
    if enabled is not None:
        statement = statement.where(policies.c.enabled == enabled)
    return await paginate(conn, statement, page)


async def enabled_policies(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(sa.select(policies).where(policies.c.enabled.is_(True)).order_by(policies.c.id))
    return [dict(r) for r in rows.mappings()]


async def update_policy(conn: AsyncConnection, policy_id: int, values: dict[str, Any]) -> None:
    await conn.execute(sa.update(policies).where(policies.c.id == policy_id).values(**values))


async def delete_policy(conn: AsyncConnection, policy_id: int) -> bool:
    await conn.execute(
        sa.delete(violations).where(violations.c.policy_id == policy_id)
    )  # SQLite: no FK cascade
    result = await conn.execute(sa.delete(policies).where(policies.c.id == policy_id))
    return cast("sa.CursorResult[Any]", result).rowcount > 0


# -- violations -------------------------------------------------------------------------------------------


async def unresolved(conn: AsyncConnection, policy_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.select(violations).where(violations.c.policy_id == policy_id, violations.c.status.in_(UNRESOLVED))
    )
    return [dict(r) for r in rows.mappings()]


async def insert_violations(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert new violations (one statement, batched by the driver); their ids by resource."""
    if not rows:
        return {}
    statement = sa.insert(violations).returning(violations.c.id, violations.c.resource)
    result = await conn.execute(statement, rows)
    return {resource: int(violation_id) for violation_id, resource in result.all()}


#: what an evaluation refreshes on a violation still found
_REFRESHED = (
    "severity",
    "evidence",
    "cost_at_stake",
    "currency",
    "last_seen_at",
    "updated_at",
    "status",
    "suppressed_until",
)


async def refresh_violations(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Update still-found violations (each row: `id` and the _REFRESHED fields) in one batched statement."""
    if not rows:
        return
    statement = (
        sa.update(violations)
        .where(violations.c.id == sa.bindparam("violation_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in _REFRESHED})
    )
    params = [{"violation_id": r["id"], **{f"new_{name}": r[name] for name in _REFRESHED}} for r in rows]
    await conn.execute(statement, params)


async def resolve_violations(conn: AsyncConnection, ids: list[int], now: datetime) -> None:
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        await conn.execute(
            sa.update(violations)
            .where(violations.c.id.in_(chunk))
            .values(status="resolved", open_key=None, resolved_at=now, updated_at=now)
        )


async def update_violation(conn: AsyncConnection, violation_id: int, values: dict[str, Any]) -> None:
    await conn.execute(sa.update(violations).where(violations.c.id == violation_id).values(**values))


def _violation_select() -> sa.Select[Any]:
    return sa.select(
        violations, policies.c.name.label("policy_name"), policies.c.type.label("policy_type")
    ).join(policies, policies.c.id == violations.c.policy_id)


async def get_violation(conn: AsyncConnection, violation_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(_violation_select().where(violations.c.id == violation_id))).mappings().first()
    return dict(row) if row else None


async def list_violations(
    conn: AsyncConnection,
    page: PageParams,
    *,
    policy_id: int | None,
    status: str | None,
    severity: str | None,
    resource: str | None,
    since: datetime | None,
) -> tuple[list[dict[str, Any]], int]:
    statement = _violation_select().order_by(violations.c.id.desc())
    if policy_id is not None:
        statement = statement.where(violations.c.policy_id == policy_id)
    if status is not None:
        statement = statement.where(violations.c.status == status)
    if severity is not None:
        statement = statement.where(violations.c.severity == severity)
    if resource is not None:
        statement = statement.where(violations.c.resource == resource)
    if since is not None:
        statement = statement.where(violations.c.last_seen_at >= since)
    return await paginate(conn, statement, page)


async def open_counts(conn: AsyncConnection) -> dict[str, int]:
    """Open violations per policy name (every policy, zero included)."""
    count = sa.func.count(violations.c.id)
    statement = (
        sa.select(policies.c.name, count)
        .select_from(
            policies.outerjoin(
                violations, sa.and_(violations.c.policy_id == policies.c.id, violations.c.status == "open")
            )
        )
        .group_by(policies.c.name)
    )
    return {name: int(n) for name, n in (await conn.execute(statement)).all()}
