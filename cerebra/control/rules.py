"""The control plane's rules in each replica's memory: rate limits and budgets by (scope, scope_id),
reloaded from the database every `OCO_CEREBRA_CONTROL_REFRESH_S` seconds (and at once on the replica
that took an admin write), so every replica applies a change without a restart."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from cerebra.control.tables import cerebra_budgets, cerebra_prices, cerebra_rate_limits, cerebra_routes
from cerebra.pricing.catalog import Prices, set_overrides
from cerebra.routing.table import RouteSpec, RouteTableSource
from oco.db import Database

log = logging.getLogger("cerebra.control")


@dataclass(frozen=True, slots=True)
class RateRule:
    id: int
    scope: str
    scope_id: str
    model: str  # '' = every model
    rpm: int | None
    tpm: int | None


@dataclass(frozen=True, slots=True)
class BudgetRule:
    id: int
    scope: str
    scope_id: str
    model: str
    period: str
    limit_usd: Decimal
    thresholds: tuple[Decimal, ...]
    webhook_url: str | None


@dataclass(frozen=True, slots=True)
class CallScopes:
    """Who a call counts for: its key and the team, org and agent it is attributed to."""

    key_id: int | None
    team: str | None
    org: str | None
    agent: str | None

    def pairs(self) -> Iterator[tuple[str, str]]:
        if self.key_id is not None:
            yield "key", str(self.key_id)
        if self.team:
            yield "team", self.team
        if self.org:
            yield "org", self.org
        if self.agent:
            yield "agent", self.agent


@dataclass(frozen=True, slots=True)
class Rules:
    rate: dict[tuple[str, str], tuple[RateRule, ...]] = field(default_factory=dict)
    budgets: dict[tuple[str, str], tuple[BudgetRule, ...]] = field(default_factory=dict)

    def rate_rules(self, scopes: CallScopes, alias: str | None) -> list[RateRule]:
        if not self.rate:
            return []
        return [r for pair in scopes.pairs() for r in self.rate.get(pair, ()) if r.model in ("", alias)]

    def budget_rules(self, scopes: CallScopes, alias: str | None) -> list[BudgetRule]:
        if not self.budgets:
            return []
        return [b for pair in scopes.pairs() for b in self.budgets.get(pair, ()) if b.model in ("", alias)]


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def price_of(row: Any) -> Prices:
    """A cerebra_prices row as Prices."""
    return Prices(
        Decimal(str(row["input"])),
        Decimal(str(row["output"])),
        _money(row["cached_input"]),
        _money(row["cache_write_5m"]),
        _money(row["cache_write_1h"]),
    )


class RuleBook:
    """The current Rules, and the loop that keeps them fresh."""

    def __init__(
        self, database: Database, refresh_s: float = 5.0, routes: RouteTableSource | None = None
    ) -> None:
        self.database = database
        self.refresh_s = refresh_s
        self.current = Rules()
        self.routes = routes  # the route table the admin API's routes and prices apply to
        self._routes_seen: dict[str, Any] | None = None
        self._prices_seen: dict[str, list[tuple[date, Prices]]] | None = None

    async def _reload_routes(self, session: Any) -> None:
        """Apply the routes and prices set through the admin API (only when they changed)."""
        if self.routes is None:
            return
        route_rows = (await session.execute(sa.select(cerebra_routes))).mappings().all()
        price_rows = (await session.execute(sa.select(cerebra_prices))).mappings().all()
        routes = {row["alias"]: row["spec"] for row in route_rows}
        prices: dict[str, list[tuple[date, Prices]]] = defaultdict(list)
        for row in price_rows:
            prices[row["model"]].append((row["effective_from"], price_of(row)))
        prices_changed = set_overrides(dict(prices)) if dict(prices) != self._prices_seen else False
        self._prices_seen = dict(prices)
        if routes != self._routes_seen:
            self._routes_seen = routes
            specs = {}
            for alias, spec in routes.items():
                try:
                    specs[alias] = RouteSpec.model_validate(spec)
                except ValueError:
                    log.error("route %r from the database does not validate: skipped", alias)
            self.routes.set_overlay(specs)
        elif prices_changed:
            self.routes.rebuild()

    async def reload(self) -> Rules:
        async with self.database.sessions() as session:
            rate_rows = (await session.execute(sa.select(cerebra_rate_limits))).mappings().all()
            budget_rows = (await session.execute(sa.select(cerebra_budgets))).mappings().all()
            await self._reload_routes(session)
        rate: dict[tuple[str, str], list[RateRule]] = defaultdict(list)
        for row in rate_rows:
            rule = RateRule(row["id"], row["scope"], row["scope_id"], row["model"], row["rpm"], row["tpm"])
            rate[rule.scope, rule.scope_id].append(rule)
        budgets: dict[tuple[str, str], list[BudgetRule]] = defaultdict(list)
        for row in budget_rows:
            budget = BudgetRule(
                row["id"],
                row["scope"],
                row["scope_id"],
                row["model"],
                row["period"],
                Decimal(str(row["limit_usd"])),
                tuple(sorted(Decimal(str(t)) for t in row["thresholds"])),
                row["webhook_url"],
            )
            budgets[budget.scope, budget.scope_id].append(budget)
        self.current = Rules(
            {k: tuple(v) for k, v in rate.items()}, {k: tuple(v) for k, v in budgets.items()}
        )
        return self.current

    async def run_refresher(self) -> None:
        """Background task: reload every `refresh_s` seconds, keeping the last rules while the database
        is unreachable."""
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.reload()
            except Exception as exc:  # noqa: BLE001 - keep enforcing what we have
                log.warning("could not reload rate limits and budgets: %s", type(exc).__name__)
