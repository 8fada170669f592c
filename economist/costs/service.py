"""The cost query engine: one currency or a refusal (never USD + EUR), conversion with dated rates, and the
summary, breakdown and trend views built on the same query."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from economist.costs import repository as repo
from economist.costs.params import CostQuery, Dimension
from economist.fx.service import FxService
from economist.ledger.tables import prepare_connection
from oco.db import Database
from oco.errors import Conflict

ZERO = Decimal(0)
HUNDRED = Decimal(100)
#: a breakdown row's share of the total is given to 4 places (0.1234 = 12.34%)
SHARE_PLACES = Decimal("0.0001")


class MixedCurrencies(Conflict):
    """The rows are in several currencies and no target currency was asked for (409, `param` currency)."""

    default_code = "mixed_currencies"

    def __init__(self, currencies: list[str]) -> None:
        super().__init__(
            f"the selected costs are in several currencies ({', '.join(currencies)}); pass currency=<code> "
            "to convert them with loaded exchange rates (POST /api/v1/fx-rates)",
            param="currency",
        )
        self.currencies = currencies


@dataclass
class CostResult:
    """Grouped costs in one currency."""

    currency: str
    metric: str
    total: Decimal
    rows: list[dict[str, Any]]  # period (date|None), one key per group-by dimension, cost (Decimal)
    total_rows: int
    limit: int | None
    offset: int
    found: bool = True  # False when no row matched (currency is then the default)


def bucket(day: date, granularity: str | None) -> date | None:
    """The period a day falls in: itself, its ISO week's Monday, or its month's first day."""
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return None


def _sort_key(row: dict[str, Any], names: list[str]) -> tuple:
    dims = tuple((row[n] is None, row[n] or "") for n in names)
    return (row["period"] or date.min, -row["cost"], *dims)


class CostService:
    """Answers cost questions from the ledger."""

    def __init__(self, database: Database, default_currency: str = "USD") -> None:
        self.database = database
        self.fx = FxService(database)
        self.default_currency = default_currency

    async def query(self, query: CostQuery) -> CostResult:
        """Grouped costs; raises MixedCurrencies, or fx MissingRate when a conversion lacks a rate."""
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            target = query.currency
            page = await repo.grouped_page(conn, query)
            found = page.currencies
            if len(found) <= 1 and (target is None or found <= {target}):
                return CostResult(
                    target or next(iter(found), self.default_currency),
                    query.metric,
                    page.total,
                    page.rows,
                    page.total_rows,
                    query.limit,
                    query.offset,
                    bool(found),
                )
            found = await repo.currencies(conn, query)
            if target is None:
                raise MixedCurrencies(sorted(found))
            daily = await repo.daily_by_currency(conn, query)
        converter = await self.fx.converter(found, target, query.end - timedelta(days=1))
        names = [d.name for d in query.group_by]
        sums: dict[tuple, Decimal] = defaultdict(Decimal)
        for row in daily:
            key = (bucket(row["period"], query.granularity), *(row[n] for n in names))
            sums[key] += converter.convert(row["cost"], row["currency"], row["period"])
        rows = [
            {"period": key[0], **dict(zip(names, key[1:], strict=True)), "cost": cost}
            for key, cost in sums.items()
        ]
        rows.sort(key=lambda r: _sort_key(r, names))
        total = sum((r["cost"] for r in rows), ZERO)
        end = None if query.limit is None else query.offset + query.limit
        return CostResult(
            target, query.metric, total, rows[query.offset : end], len(rows), query.limit, query.offset
        )

    async def _with_previous(self, current_query: CostQuery) -> tuple[CostResult, CostResult]:
        """The query and the same query over the previous window of equal length, in one currency."""
        current = await self.query(current_query)
        pinned = current_query.currency or (current.currency if current.found else None)
        length = (current_query.end - current_query.start).days
        previous = await self.query(
            replace(
                current_query.shifted(-length),
                granularity=None,
                group_by=(),
                limit=None,
                offset=0,
                currency=pinned,
            )
        )
        if not current.found and previous.found:
            current.currency = previous.currency
        return current, previous

    async def summary(self, query: CostQuery, top: int = 10) -> dict[str, Any]:
        """Total, by provider, top services, and the change against the previous window of equal length."""
        base = replace(query, granularity=None, group_by=(), limit=None, offset=0)
        current, previous = await self._with_previous(base)
        pinned = replace(base, currency=query.currency or (current.currency if current.found else None))
        by_provider = await self.query(replace(pinned, group_by=(Dimension("provider"),)))
        services = await self.query(
            replace(pinned, group_by=(Dimension("provider"), Dimension("service")), limit=top)
        )
        length = (query.end - query.start).days
        change = current.total - previous.total
        return {
            "currency": current.currency,
            "metric": current.metric,
            "from": query.start,
            "to": query.end,
            "total": current.total,
            "previous_from": query.start - timedelta(days=length),
            "previous_to": query.start,
            "previous_total": previous.total,
            "change": change,
            "change_percent": (change / previous.total * HUNDRED) if previous.total else None,
            "by_provider": by_provider.rows,
            "top_services": services.rows,
        }

    async def breakdown(self, query: CostQuery, dimension: Dimension) -> tuple[CostResult, Dimension]:
        """Costs by one dimension, largest first; each row also holds its `share` of the total."""
        result = await self.query(replace(query, granularity=None, group_by=(dimension,)))
        for row in result.rows:
            row["share"] = share_of(row["cost"], result.total)
        return result, dimension

    async def trend(self, query: CostQuery) -> dict[str, Any]:
        """Daily costs over the window (every day present), with the previous window and a linear slope."""
        daily, previous = await self._with_previous(
            replace(query, granularity="day", group_by=(), limit=None, offset=0)
        )
        length = (query.end - query.start).days
        by_day = {r["period"]: r["cost"] for r in daily.rows}
        days = [query.start + timedelta(days=i) for i in range(length)]
        series = [by_day.get(d, ZERO) for d in days]
        change = daily.total - previous.total
        return {
            "currency": daily.currency,
            "metric": daily.metric,
            "from": query.start,
            "to": query.end,
            "total": daily.total,
            "average_daily": daily.total / length if length else ZERO,
            "slope_per_day": linear_slope(series),
            "previous_total": previous.total,
            "change": change,
            "change_percent": (change / previous.total * HUNDRED) if previous.total else None,
            "rows": [{"period": d, "cost": c} for d, c in zip(days, series, strict=True)],
        }


def share_of(cost: Decimal, total: Decimal) -> Decimal | None:
    """`cost` as a fraction of `total` (4 places), or None when the total is zero."""
    return (cost / total).quantize(SHARE_PLACES) if total else None


def linear_slope(values: list[Decimal]) -> Decimal:
    """Least-squares slope of values against their index (cost change per day), exact in Decimal."""
    n = len(values)
    if n < 2:
        return ZERO
    mean_x = Decimal(n - 1) / 2
    mean_y = sum(values, ZERO) / n
    num = sum(((Decimal(i) - mean_x) * (v - mean_y) for i, v in enumerate(values)), ZERO)
    den = sum(((Decimal(i) - mean_x) ** 2 for i in range(n)), ZERO)
    return num / den
