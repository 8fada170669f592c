"""Finding anomalies in the ledger: daily series per group (default service x account) and currency from
the rollup, the detector on each, and a root cause for each anomaly: the account, region or resource
whose own change explains the deviation. A series starts at its first cost and ends at the last day its
provider billed anything (days after it are not yet billed, not zero).

Root cause rule: for each candidate dimension (resource, region, account, minus those grouped by) the
contributor with the largest change in the anomaly's direction (actual - its same-weekday median);
the root cause is the most specific dimension whose top contributor explains at least half of the
deviation, else the contributor explaining the largest share.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from economist.anomalies.detector import RESIDUAL_DAYS, SEASON, WEEKS, Finding, child_baseline, detect
from economist.costs import repository as costs_repo
from economist.costs.params import CostQuery, Dimension, Filter
from economist.ledger.tables import prepare_connection
from oco.db import Database

HISTORY_DAYS = WEEKS * SEASON + RESIDUAL_DAYS  # enough for the baselines of the residual window
ROOT_CAUSE_ORDER = ("resource", "region", "account")  # most specific first
HALF = Decimal("0.5")
ZERO = Decimal(0)


class AnomalyService:
    """Detects anomalies over a window of the ledger."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def find(self, query: CostQuery, min_cost: Decimal, *, root_causes: int = 50) -> dict[str, Any]:
        """Anomalies in [query.start, query.end) for the query's group_by (rollup dimensions) and filters."""
        history_start = query.start - timedelta(days=HISTORY_DAYS)
        # the provider is always read: each series ends at its provider's last billed day (billing lags
        # differ: an Azure export two days behind AWS's must not look like two days of zero cost)
        extra = () if any(d.kind == "provider" for d in query.group_by) else (Dimension("provider"),)
        history = replace(
            query,
            start=history_start,
            granularity="day",
            group_by=query.group_by + extra,
            limit=None,
            offset=0,
            currency=None,
        )
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            daily = await costs_repo.daily_by_currency(conn, history)
        names = [d.name for d in query.group_by]
        series_values: dict[tuple, dict[int, Decimal]] = defaultdict(dict)
        series_providers: dict[tuple, set[str | None]] = defaultdict(set)
        provider_last: dict[str | None, int] = {}
        for row in daily:
            index = (row["period"] - history_start).days
            key = (*(row[n] for n in names), row["currency"])
            series_values[key][index] = series_values[key].get(index, ZERO) + row["cost"]
            series_providers[key].add(row["provider"])
            provider_last[row["provider"]] = max(provider_last.get(row["provider"], index), index)
        first_index = (query.start - history_start).days
        found: list[tuple[tuple, Finding]] = []
        for key, values in series_values.items():
            begin = min(values)
            # a series over several providers ends where the earliest of them stops reporting
            end = min(provider_last[p] for p in series_providers[key])
            series: list[Decimal | None] = [
                None if i < begin else values.get(i, ZERO) for i in range(end + 1)
            ]
            found += [(key, f) for f in detect(series, first_index, min_cost)]
        found.sort(key=lambda kf: (-kf[1].index, -abs(kf[1].z)))
        ranked = sorted(range(len(found)), key=lambda i: -abs(found[i][1].z))[:root_causes]
        anomalies = []
        for position, (key, finding) in enumerate(found):
            day = history_start + timedelta(days=finding.index)
            item: dict[str, Any] = {
                "date": day,
                **dict(zip(names, key[:-1], strict=True)),
                "currency": key[-1],
                "actual": finding.actual,
                "expected": finding.expected,
                "deviation": finding.deviation,
                "z": finding.z,
                "severity": finding.severity,
                "root_cause": None,
                "contributors": [],
            }
            if position in ranked:
                item["contributors"], item["root_cause"] = await self._root_cause(query, key, finding, day)
            anomalies.append(item)
        return {
            "from": query.start,
            "to": query.end,
            "metric": query.metric,
            "group_by": names,
            "min_cost": min_cost,
            "series_checked": len(series_values),
            "anomalies": anomalies,
        }

    async def _root_cause(
        self, query: CostQuery, key: tuple, finding: Finding, day: date
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        grouped = {d.kind for d in query.group_by}
        candidates = [kind for kind in ROOT_CAUSE_ORDER if kind not in grouped]
        if not candidates or finding.deviation == 0:
            return [], None
        start = day - timedelta(days=WEEKS * SEASON)
        equal = tuple(Filter(d, (value,)) for d, value in zip(query.group_by, key[:-1], strict=True))
        children = replace(
            query,
            start=start,
            end=day + timedelta(days=1),
            granularity="day",
            group_by=tuple(Dimension(kind) for kind in candidates),
            filters=query.filters + equal,
            limit=None,
            offset=0,
            currency=None,
        )
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            rows = [r for r in await costs_repo.daily_by_currency(conn, children) if r["currency"] == key[-1]]
        t = (day - start).days
        per_value: dict[tuple[str, str | None], dict[int, Decimal]] = defaultdict(dict)
        for row in rows:
            index = (row["period"] - start).days
            if index % SEASON != t % SEASON:
                continue  # only the same weekdays matter
            for kind in candidates:
                values = per_value[(kind, row[kind])]
                values[index] = values.get(index, ZERO) + row["cost"]
        sign = 1 if finding.deviation > 0 else -1
        best: dict[str, dict[str, Any]] = {}
        for (kind, value), values in per_value.items():
            actual = values.get(t, ZERO)
            expected = child_baseline(values, t)
            delta = actual - expected
            if delta * sign <= 0:
                continue
            if kind not in best or delta * sign > best[kind]["delta"] * sign:
                best[kind] = {
                    "dimension": kind,
                    "value": value,
                    "actual": actual,
                    "expected": expected,
                    "delta": delta,
                    "share": delta / finding.deviation,
                }
        contributors = [best[kind] for kind in candidates if kind in best]
        if not contributors:
            return [], None
        for contributor in contributors:  # most specific first
            if contributor["share"] >= HALF:
                return contributors, contributor
        return contributors, max(contributors, key=lambda c: c["share"])
