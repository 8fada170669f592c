"""Budget logic: CRUD, the status of a period (spent from the cost engine, forecast at period end from the
forecast engine, never below spent) and threshold evaluation that records each crossing once per budget and
period and returns the new ones (`evaluate_thresholds`; notifications are wired to its result)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from economist.budgets import metrics
from economist.budgets import repository as repo
from economist.budgets.periods import period_bounds
from economist.costs import repository as costs_repo
from economist.costs.params import CostQuery, Dimension, Filter
from economist.costs.service import CostService
from economist.forecast.service import ForecastService
from economist.ledger.tables import prepare_connection
from economist.ledger.tags import TagNormalizer
from economist.notifications.service import check_webhook_url
from economist.settings import EconomistSettings
from oco.db import Database
from oco.errors import Conflict
from oco.money import money_str
from oco.netguard import AddressPolicy
from oco.pagination import PageParams
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("economist.budgets")

ZERO = Decimal(0)
HUNDRED = Decimal(100)
RATIO_PLACES = Decimal("0.0001")
#: days of history before the forecast starts that the forecast model learns from
FORECAST_HISTORY_DAYS = 90
FORECAST_COVERAGE = 0.8


class BudgetNameTaken(Conflict):
    default_code = "budget_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"a budget named {name!r} exists", param="name")


@dataclass(frozen=True)
class ThresholdCrossed:
    """A threshold reached for the first time in a period: what a notification says."""

    budget_id: int
    budget_name: str
    percent: int
    on: str  # actual | forecast
    spent: Decimal
    forecast: Decimal
    amount: Decimal
    currency: str
    period_start: date
    period_end: date  # exclusive
    webhook_url: str | None

    @property
    def threshold_amount(self) -> Decimal:
        return self.amount * self.percent / HUNDRED

    def payload(self) -> dict[str, Any]:
        """The JSON body of a `budget.threshold_crossed` notification (money as strings)."""
        return {
            "event": "budget.threshold_crossed",
            "budget_id": self.budget_id,
            "budget": self.budget_name,
            "percent": self.percent,
            "on": self.on,
            "threshold_amount": money_str(self.threshold_amount),
            "spent": money_str(self.spent),
            "forecast": money_str(self.forecast),
            "amount": money_str(self.amount),
            "currency": self.currency,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
        }


@dataclass
class BudgetState:
    """A budget's period as of a day: spent, forecast, the thresholds reached and their alerts."""

    budget: dict[str, Any]
    period_start: date
    period_end: date
    as_of: date
    spent: Decimal
    forecast: Decimal
    forecast_method: str
    alerts: dict[tuple[int, str], datetime] = field(default_factory=dict)
    newly_crossed: list[ThresholdCrossed] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.budget["amount"])

    def value_on(self, basis: str) -> Decimal:
        return self.spent if basis == "actual" else self.forecast

    def reached(self, threshold: dict[str, Any]) -> bool:
        return self.value_on(threshold["on"]) >= self.amount * threshold["percent"] / HUNDRED


def ratio(value: Decimal, amount: Decimal) -> Decimal:
    return (value / amount).quantize(RATIO_PLACES) if amount else ZERO


def scope_filters(scope: dict[str, Any], normalizer: TagNormalizer) -> tuple[Filter, ...]:
    """A budget scope as cost-query filters (every given field must match; tags fold like the ledger's)."""
    filters = [
        Filter(Dimension(name), (scope[name],))
        for name in ("provider", "account", "service")
        if scope.get(name) is not None
    ]
    for key, value in sorted((scope.get("tag") or {}).items()):
        filters.append(Filter(Dimension("tag", normalizer.key(key)), (normalizer.value(value),)))
    return tuple(filters)


CrossedListener = Callable[[list[ThresholdCrossed]], Awaitable[None]]


class BudgetService:
    """Budgets over the ledger; `listeners` are called with the thresholds each evaluation newly crossed."""

    def __init__(
        self, database: Database, settings: EconomistSettings, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.costs = CostService(database, settings.oco_economist_default_currency)
        self.forecasts = ForecastService(database, settings.oco_economist_default_currency)
        self.listeners: list[CrossedListener] = []
        #: where a budget's webhook may point (the notifier's own policy: checked again at each delivery)
        self.webhook_addresses = AddressPolicy.parse(
            settings.oco_notify_allow_hosts, settings.oco_outbound_allow_hosts
        )

    # -- CRUD ----------------------------------------------------------------------------------------------

    async def create(self, values: dict[str, Any], *, created_by: str | None) -> dict[str, Any]:
        await check_webhook_url(self.webhook_addresses, values.get("webhook_url"))
        now = self.clock()
        async with self.database.engine.begin() as conn:
            if await repo.name_taken(conn, values["name"]):
                raise BudgetNameTaken(values["name"])
            budget_id = await repo.insert_budget(
                conn, **values, created_by=created_by, created_at=now, updated_at=now
            )
            created = await repo.get_budget(conn, budget_id)
        assert created is not None
        return created

    async def page(self, page: PageParams) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await repo.page_budgets(conn, page)

    async def get(self, budget_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            return await repo.get_budget(conn, budget_id)

    async def update(self, budget_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        await check_webhook_url(self.webhook_addresses, changes.get("webhook_url"))
        async with self.database.engine.begin() as conn:
            before = await repo.get_budget(conn, budget_id)
            if before is None:
                return None
            if "name" in changes and await repo.name_taken(conn, changes["name"], other_than=budget_id):
                raise BudgetNameTaken(changes["name"])
            if changes:
                await repo.update_budget(conn, budget_id, **changes, updated_at=self.clock())
            after = await repo.get_budget(conn, budget_id)
        if after is not None and after["name"] != before["name"]:
            metrics.forget(before["name"])
        return after

    async def delete(self, budget_id: int) -> bool:
        async with self.database.engine.begin() as conn:
            budget = await repo.get_budget(conn, budget_id)
            if budget is None:
                return False
            await repo.delete_budget(conn, budget_id)
        metrics.forget(budget["name"])
        return True

    # -- status and thresholds -----------------------------------------------------------------------------

    async def status(self, budget_id: int, *, at: date | None = None) -> BudgetState | None:
        """The budget's period holding `at` (default: today, UTC), its thresholds evaluated (new crossings
        recorded and passed to the listeners). Raises MixedCurrencies/MissingRate like the cost API."""
        budget = await self.get(budget_id)
        if budget is None:
            return None
        state = await self._evaluate(budget, at or self.clock().date())
        await self._notify(state.newly_crossed)
        return state

    async def evaluate_thresholds(
        self, budget_ids: list[int] | None = None, *, now: datetime | None = None
    ) -> list[ThresholdCrossed]:
        """Evaluate every budget (or those of `budget_ids`) for the period holding `now`: each threshold
        reached is recorded once per budget and period; returns the thresholds crossed for the first time
        (and passes them to the listeners). A budget that cannot be evaluated is logged and skipped."""
        day = as_utc(now or self.clock()).date()
        async with self.database.engine.connect() as conn:
            budgets = await repo.all_budgets(conn, budget_ids)
        crossed: list[ThresholdCrossed] = []
        for budget in budgets:
            try:
                crossed += (await self._evaluate(budget, day)).newly_crossed
            except Exception as exc:
                metrics.EVALUATION_ERRORS.inc()
                log.warning("budget %s (%s) not evaluated: %s", budget["id"], budget["name"], exc)
        await self._notify(crossed)
        return crossed

    async def after_ingestion(self, _record: dict[str, Any]) -> None:
        """The post-ingestion hook: new costs may cross thresholds."""
        await self.evaluate_thresholds()

    async def _evaluate(self, budget: dict[str, Any], day: date) -> BudgetState:
        state = await self._measure(budget, day)
        for threshold in budget["thresholds"] or []:
            if not state.reached(threshold):
                continue
            async with self.database.engine.begin() as conn:
                new = await repo.record_alert_once(
                    conn,
                    budget_id=budget["id"],
                    period_start=state.period_start,
                    period_end=state.period_end,
                    percent=threshold["percent"],
                    basis=threshold["on"],
                    spent=state.spent,
                    forecast=state.forecast,
                    amount=state.amount,
                    currency=budget["currency"],
                    created_at=self.clock(),
                )
            if new:
                state.newly_crossed.append(self._crossed(budget, state, threshold))
        async with self.database.engine.connect() as conn:
            for alert in await repo.alerts_of_period(
                conn, budget["id"], state.period_start, state.period_end
            ):
                state.alerts[(alert["percent"], alert["basis"])] = as_utc(alert["created_at"])
        if state.as_of == self.clock().date():
            metrics.BUDGET_UTILIZATION.labels(budget["name"]).set(float(ratio(state.spent, state.amount)))
            metrics.BUDGET_FORECAST_UTILIZATION.labels(budget["name"]).set(
                float(ratio(state.forecast, state.amount))
            )
        return state

    def _crossed(
        self, budget: dict[str, Any], state: BudgetState, threshold: dict[str, Any]
    ) -> ThresholdCrossed:
        crossed = ThresholdCrossed(
            budget_id=budget["id"],
            budget_name=budget["name"],
            percent=threshold["percent"],
            on=threshold["on"],
            spent=state.spent,
            forecast=state.forecast,
            amount=state.amount,
            currency=budget["currency"],
            period_start=state.period_start,
            period_end=state.period_end,
            webhook_url=budget["webhook_url"],
        )
        metrics.THRESHOLDS_CROSSED.labels(budget["name"], threshold["on"]).inc()
        log.info(
            "budget %s (%s) crossed %s%% on %s for %s..%s: spent %s, forecast %s of %s %s",
            budget["id"],
            budget["name"],
            crossed.percent,
            crossed.on,
            crossed.period_start,
            crossed.period_end,
            money_str(crossed.spent),
            money_str(crossed.forecast),
            money_str(crossed.amount),
            crossed.currency,
        )
        return crossed

    async def _measure(self, budget: dict[str, Any], day: date) -> BudgetState:
        """Spent in [period start, day] and the forecast at period end: the days after the last cost of the
        period to date are forecast from the history before them (any period's), and added to spent."""
        start, end = period_bounds(budget["period"], day)
        to_date = CostQuery(
            start=start,
            end=min(day + timedelta(days=1), end),
            metric=budget["metric"],
            filters=scope_filters(budget["scope"] or {}, self.settings.tag_normalizer),
            currency=budget["currency"],
        )
        spent = (await self.costs.query(to_date)).total
        async with self.database.engine.connect() as conn:
            await prepare_connection(conn)
            last = await costs_repo.last_day(conn, to_date)
        history_end = start if last is None else last + timedelta(days=1)
        horizon = (end - history_end).days
        forecast, method = spent, "none: the period has no day left to forecast"
        if horizon > 0:
            history = CostQuery(
                start=history_end - timedelta(days=FORECAST_HISTORY_DAYS),
                end=history_end,
                metric=to_date.metric,
                filters=to_date.filters,
                currency=to_date.currency,
            )
            result = await self.forecasts.forecast(history, horizon, FORECAST_COVERAGE, 1)
            future = sum((point[0] for point in result["total"]["points"]), ZERO)
            forecast, method = max(spent, spent + future), result["total"]["method"]
        return BudgetState(budget, start, end, day, spent, forecast, method)

    async def _notify(self, crossed: list[ThresholdCrossed]) -> None:
        if not crossed:
            return
        for listener in self.listeners:
            try:
                await listener(crossed)
            except Exception:
                log.exception("a listener of crossed budget thresholds failed")


async def evaluate_thresholds(
    service: BudgetService, budget_ids: list[int] | None = None, *, now: datetime | None = None
) -> list[ThresholdCrossed]:
    """Evaluate budgets' thresholds (see BudgetService.evaluate_thresholds): the new crossings."""
    return await service.evaluate_thresholds(budget_ids, now=now)
