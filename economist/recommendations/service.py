"""Recommendations logic: the refresh (aggregates from the ledger -> rules -> one row per type + resource,
closing what no longer applies), listing, the status lifecycle, and posted utilization."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from economist.ingestion.slices import day_start
from economist.ledger.tables import prepare_connection
from economist.recommendations import metrics
from economist.recommendations import repository as repo
from economist.recommendations.catalog import Discounts, SizeTable, load_discounts, load_sizes
from economist.recommendations.rules import commitments, idle, rightsizing, spot, storage
from economist.recommendations.rules.common import Finding, RuleConfig
from economist.recommendations.tables import ACTIVE_STATUSES
from economist.settings import EconomistSettings
from oco.db import Database
from oco.errors import Conflict, InvalidRequest
from oco.kv import KV, LockNotAcquired
from oco.money import quantize_money
from oco.pagination import PageParams
from oco.timeutil import utcnow

log = logging.getLogger(__name__)

LOCK = "economist:recommendations:refresh"
#: resource-level types (their resource_id is a ledger ResourceId)
RESOURCE_TYPES = idle.TYPES + rightsizing.TYPES + storage.TYPES + spot.TYPES
TYPES = RESOURCE_TYPES + commitments.TYPES
#: allowed status changes through PATCH
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("accepted", "dismissed", "implemented"),
    "accepted": ("open", "dismissed", "implemented"),
    "dismissed": ("open",),
    "implemented": ("open",),
}
REFRESH_ACTOR = "refresh"


class RefreshRunning(Conflict):
    """Another refresh holds the lock (409)."""

    default_code = "refresh_running"


class InvalidTransition(Conflict):
    """A status change the lifecycle does not allow (409, param `status`)."""

    default_code = "invalid_transition"


def rule_config(settings: EconomistSettings) -> RuleConfig:
    """The rule thresholds from the settings."""
    s = settings
    return RuleConfig(
        window_days=s.oco_economist_recommendations_window_days,
        idle_max_activity=s.oco_economist_recommendations_idle_max_activity,
        idle_cpu_percent=s.oco_economist_recommendations_idle_cpu_percent,
        storage_max_requests=s.oco_economist_recommendations_storage_max_requests,
        target_utilization=s.oco_economist_recommendations_target_utilization,
        nonprod_values=tuple(
            v.strip().lower() for v in s.oco_economist_recommendations_nonprod_values.split(",") if v.strip()
        ),
        spot_min_coverage=s.oco_economist_recommendations_spot_min_coverage,
        commitment_lookback_days=s.oco_economist_recommendations_commitment_lookback_days,
        commitment_percentile=s.oco_economist_recommendations_commitment_percentile,
        commitment_term_months=s.oco_economist_recommendations_commitment_term_months,
        commitment_payment=s.oco_economist_recommendations_commitment_payment,
        commitment_min_utilization=s.oco_economist_recommendations_commitment_min_utilization,
        min_saving=s.oco_economist_recommendations_min_saving,
    )


@dataclass
class RefreshResult:
    """What a refresh found and changed."""

    as_of: date
    window_start: datetime
    window_end: datetime
    created: int
    updated: int
    reopened: int
    closed: int
    found: dict[str, int]
    duration_ms: int


class RecommendationService:
    """Refreshes, lists and changes recommendations."""

    def __init__(
        self,
        database: Database,
        kv: KV,
        config: RuleConfig,
        *,
        sizes: SizeTable | None = None,
        discounts: Discounts | None = None,
    ) -> None:
        self.database = database
        self.kv = kv
        self.config = config
        self.sizes = sizes or load_sizes()
        self.discounts = discounts or load_discounts()

    @classmethod
    def from_settings(cls, database: Database, kv: KV, settings: EconomistSettings) -> RecommendationService:
        return cls(
            database,
            kv,
            rule_config(settings),
            sizes=load_sizes(settings.oco_economist_recommendations_sizes),
            discounts=load_discounts(settings.oco_economist_recommendations_discounts),
        )

    # -- refresh ---------------------------------------------------------------------------------------------

    async def refresh(
        self, *, as_of: date | None = None, billing_account: str | None = None, wait_s: float = 30.0
    ) -> RefreshResult:
        """Run every rule over the window ending at `as_of` (exclusive; default the day after the ledger's last
        charge day) for one billing account or all; raises RefreshRunning when another holds the lock."""
        try:
            async with self.kv.lock(LOCK, ttl_s=900, blocking_timeout_s=wait_s):
                result = await self._refresh(as_of, billing_account)
        except LockNotAcquired:
            raise RefreshRunning("a recommendations refresh is already running; try again shortly") from None
        metrics.count_refresh(
            {
                "created": result.created,
                "updated": result.updated,
                "reopened": result.reopened,
                "closed": result.closed,
            }
        )
        await self.publish_metrics()
        return result

    async def _refresh(self, as_of: date | None, billing_account: str | None) -> RefreshResult:
        started = time.perf_counter()
        config = self.config
        async with self.database.engine.begin() as conn:
            await prepare_connection(conn)
            await repo.tune_for_aggregates(conn)
            if as_of is None:
                last = await repo.latest_ledger_day(conn)
                as_of = (_as_date(last) if last is not None else utcnow().date()) + timedelta(days=1)
            end = day_start(as_of)
            start = end - timedelta(days=config.window_days)
            rows = await repo.resource_candidates(
                conn,
                start,
                end,
                billing_account=billing_account,
                nonprod_values=config.nonprod_values,
                max_idle_activity=config.idle_max_activity,
                max_storage_requests=config.storage_max_requests,
                resource_types=RESOURCE_TYPES,
            )
            utilization = await repo.utilization_for(conn, sorted({r["resource_id"] for r in rows}))
            findings = self._resource_findings(rows, utilization, start, end)
            lookback_start = as_of - timedelta(days=config.commitment_lookback_days)
            spend = await repo.compute_and_commitment_spend(
                conn, min(day_start(lookback_start), start), end, billing_account=billing_account
            )
            daily = commitments.by_day(spend, since=day_start(lookback_start))
            findings += commitments.purchase_findings(daily, self.discounts, config, lookback_start, as_of)
            used = commitments.by_commitment(spend, since=start)
            findings += commitments.underused_findings(used, config, start, end)
            costing = {r["resource_id"] for r in rows if r["cost"] is not None and Decimal(r["cost"]) > 0}
            changes = await self._store(conn, findings, costing, billing_account)
        found: dict[str, int] = {}
        for finding in findings:
            found[finding.type] = found.get(finding.type, 0) + 1
        return RefreshResult(
            as_of=as_of,
            window_start=start,
            window_end=end,
            found=found,
            duration_ms=int((time.perf_counter() - started) * 1000),
            **changes,
        )

    def _resource_findings(
        self,
        rows: list[dict[str, Any]],
        utilization: dict[str, dict[str, dict[str, Any]]],
        start: datetime,
        end: datetime,
    ) -> list[Finding]:
        config = self.config
        best: dict[tuple[str, str], Finding] = {}
        for row in rows:
            used = utilization.get(row["resource_id"], {})
            candidates = [
                idle.idle_finding(row, used, config, start, end),
                rightsizing.rightsize_finding(row, used, self.sizes, config, start, end)
                if row.get("kind") == "compute" or used
                else None,
                storage.storage_finding(row, self.discounts, config, start, end),
                spot.spot_finding(row, self.discounts, config, start, end),
            ]
            for finding in candidates:
                if finding is None:
                    continue
                key = (finding.type, finding.resource_id)
                if key not in best or finding.saving > best[key].saving:
                    best[key] = finding
        return list(best.values())

    async def _store(
        self, conn: Any, findings: list[Finding], costing: set[str], billing_account: str | None
    ) -> dict[str, int]:
        """Insert new findings, refresh known ones (a dismissed one stays dismissed, an implemented one reopens)
        and close active ones no rule found again as implemented."""
        now = utcnow()
        kept = [f for f in findings if f.saving >= self.config.min_saving]
        known = await repo.existing(conn, TYPES, billing_account, [(f.type, f.resource_id) for f in kept])
        new_rows, updates = [], []
        reopened = 0
        seen: set[tuple[str, str]] = set()
        for f in kept:
            key = (f.type, f.resource_id)
            seen.add(key)
            values = _finding_values(f, now)
            row = known.get(key)
            if row is None:
                new_rows.append(
                    {
                        **values,
                        "type": f.type,
                        "resource_id": f.resource_id,
                        "status": "open",
                        "first_seen_at": now,
                    }
                )
                continue
            update = {"row_id": row["id"], **values}
            if row["status"] == "implemented":
                update.update(
                    status="open", status_reason="found again", status_by=REFRESH_ACTOR, status_at=now
                )
                reopened += 1
            updates.append(update)
        await repo.insert_many(conn, new_rows)
        await repo.update_many(conn, updates)
        gone, no_longer = [], []
        for key, row in known.items():
            if key in seen or row["status"] not in ACTIVE_STATUSES:
                continue
            if billing_account is not None and row["billing_account_id"] != billing_account:
                continue
            if key[0] in RESOURCE_TYPES and key[1] in costing:
                no_longer.append(row["id"])
            else:
                gone.append(row["id"])
        closed = {"status": "implemented", "status_by": REFRESH_ACTOR, "status_at": now}
        await repo.close_many(
            conn, gone, {**closed, "status_reason": "the resource no longer costs anything in the window"}
        )
        await repo.close_many(conn, no_longer, {**closed, "status_reason": "the rule no longer finds it"})
        return {
            "created": len(new_rows),
            "updated": len(updates) - reopened,
            "reopened": reopened,
            "closed": len(gone) + len(no_longer),
        }

    async def publish_metrics(self) -> None:
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            metrics.publish_open(await repo.open_totals(conn))

    # -- reading and changing --------------------------------------------------------------------------------

    async def list(
        self, filters: dict[str, Any], *, descending: bool, page: PageParams
    ) -> tuple[list[dict[str, Any]], int, dict[str, Decimal]]:
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            return await repo.list_recommendations(conn, filters, descending=descending, page=page)

    async def get(self, recommendation_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            return await repo.get_recommendation(conn, recommendation_id)

    async def change_status(
        self, recommendation_id: int, status: str, reason: str | None, actor: str
    ) -> dict[str, Any] | None:
        """Move a recommendation to `status` (dismissed needs a reason); None when it does not exist."""
        reason = (reason or "").strip() or None
        if status == "dismissed" and reason is None:
            raise InvalidRequest("a dismissal needs a reason", param="reason", code="reason_required")
        async with self.database.engine.begin() as conn:
            row = await repo.get_recommendation(conn, recommendation_id)
            if row is None:
                return None
            if status not in TRANSITIONS[row["status"]]:
                allowed = ", ".join(TRANSITIONS[row["status"]])
                raise InvalidTransition(
                    f"a recommendation that is {row['status']} can become {allowed}, not {status}",
                    param="status",
                )
            values = {"status": status, "status_reason": reason, "status_by": actor, "status_at": utcnow()}
            await repo.set_status(conn, recommendation_id, values)
            row.update(values)
        await self.publish_metrics()
        return row


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _finding_values(f: Finding, now: datetime) -> dict[str, Any]:
    return {
        "resource_name": f.resource_name,
        "provider": f.provider,
        "billing_account_id": f.billing_account_id,
        "account_id": f.account_id,
        "region": f.region,
        "service_name": f.service_name,
        "currency": f.currency,
        "estimated_monthly_saving": quantize_money(f.saving),
        "summary": f.summary,
        "evidence": f.evidence,
        "confidence": f.confidence,
        "effort": f.effort,
        "risk": f.risk,
        "last_seen_at": now,
    }


# -- utilization -------------------------------------------------------------------------------------------------


def nearest_rank(values: list[Decimal], percentile: int) -> Decimal:
    return commitments.nearest_rank(values, percentile)


class UtilizationService:
    """Stores posted cpu/memory utilization (percentiles computed from samples when given)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def record(
        self,
        *,
        resource_id: str,
        metric: str,
        size: str | None,
        window_start: datetime | None,
        window_end: datetime | None,
        samples: list[Decimal] | None,
        p50: Decimal | None,
        p95: Decimal | None,
        maximum: Decimal | None,
    ) -> dict[str, Any]:
        """Store the latest utilization of (resource, metric); samples give p50/p95/max by nearest rank."""
        if window_start and window_end and window_end <= window_start:
            raise InvalidRequest("window_end must be after window_start", param="window_end")
        count = None
        if samples:
            count = len(samples)
            p50, p95, maximum = nearest_rank(samples, 50), nearest_rank(samples, 95), max(samples)
        if p95 is None:
            raise InvalidRequest("give samples or p95", param="p95", code="missing_p95")
        values = {
            "resource_id": resource_id,
            "metric": metric,
            "size": size,
            "window_start": window_start,
            "window_end": window_end,
            "sample_count": count,
            "p50": p50,
            "p95": p95,
            "max": maximum,
            "recorded_at": utcnow(),
        }
        async with self.database.engine.begin() as conn:
            return await repo.upsert_utilization(conn, values)
