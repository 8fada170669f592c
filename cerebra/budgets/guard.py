"""Budgets around each call: before it, reserve the call's worst-case cost (estimated prompt tokens plus
its output cap at the priciest deployment it may reach) in every budget that covers it, refusing with
429 `budget_exceeded` before any provider is called when one would not hold it; after it, settle to the
real cost. Thresholds alert once per budget and period: a metric, a log line and a signed webhook."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError

from cerebra.budgets.ledger import BudgetExceeded, Ledger, Reserved, Slot
from cerebra.budgets.periods import period_bounds
from cerebra.control.estimate import output_limit, prompt_tokens
from cerebra.control.rules import BudgetRule, CallScopes, RuleBook
from cerebra.control.tables import cerebra_budget_alerts
from cerebra.routing.table import Deployment
from oco.db import Database
from oco.errors import ApiError
from oco.money import money_str, quantize_money
from oco.notify import Notifier
from oco.timeutil import utcnow

log = logging.getLogger("cerebra.budgets")
MILLION = Decimal(1_000_000)
THRESHOLD_EVENT = "cerebra.budget.threshold"

REFUSALS = Counter(
    "oco_cerebra_budget_refusals_total", "Calls refused because a budget would be exceeded", ["scope"]
)
ALERTS = Counter(
    "oco_cerebra_budget_threshold_alerts_total",
    "Budget thresholds crossed (once per budget and period)",
    ["scope"],
)


def worst_case_cost(plan: Sequence[Deployment], body: dict[str, Any], prompt: int | None = None) -> Decimal:
    """The most the call can cost on any deployment of its plan (unpriced deployments count 0);
    `prompt`: the body's prompt_tokens() when the caller has it already."""
    if prompt is None:
        prompt = prompt_tokens(body)
    cap = output_limit(body)
    worst = Decimal(0)
    for deployment in plan:
        prices = deployment.prices
        if prices is None:
            continue
        output = cap if cap is not None else deployment.max_output_tokens
        cost = (Decimal(prompt) * prices.input_per_mtok + Decimal(output) * prices.output_per_mtok) / MILLION
        worst = max(worst, cost)
    return quantize_money(worst)


PlannedSlots = list[tuple[BudgetRule, Slot]]
PlannedReservation = tuple[PlannedSlots, Decimal]  # (each budget with its slot, the amount to reserve)


class BudgetGuard:
    """Reserve, settle and alert."""

    def __init__(
        self, rules: RuleBook, ledger: Ledger, database: Database, notifier: Notifier | None
    ) -> None:
        self.rules = rules
        self.ledger = ledger
        self.database = database
        self.notifier = notifier
        self._alerted: set[tuple[int, object, Decimal]] = set()
        self._indexed: tuple[object, dict[int, BudgetRule]] = (None, {})

    def _by_id(self) -> dict[int, BudgetRule]:
        """The current budgets by id (indexed once per rule reload, not per call)."""
        current = self.rules.current
        if self._indexed[0] is not current:
            self._indexed = (current, {b.id: b for group in current.budgets.values() for b in group})
        return self._indexed[1]

    def slots(self, budgets: Sequence[BudgetRule]) -> list[tuple[BudgetRule, Slot]]:
        now = utcnow()
        return [(b, Slot(b.id, period_bounds(b.period, now)[0], b.limit_usd)) for b in budgets]

    def plan(
        self,
        scopes: CallScopes,
        alias: str | None,
        plan: Sequence[Deployment],
        body: dict[str, Any],
        prompt: Callable[[], int] | None = None,
    ) -> PlannedReservation | None:
        """The budgets covering a call (with their current slots) and its worst-case cost; None: none
        (and no estimate computed). `prompt`: the body's prompt_tokens(), when the caller has it."""
        budgets = self.rules.current.budget_rules(scopes, alias)
        if not budgets:
            return None
        return self.slots(budgets), worst_case_cost(plan, body, prompt() if prompt else None)

    @staticmethod
    def refusal(pairs: PlannedSlots, amount: Decimal, exc: BudgetExceeded) -> ApiError:
        """429 `budget_exceeded` naming the budget the reservation did not fit in."""
        budget = next(b for b, s in pairs if s == exc.slot)
        REFUSALS.labels(budget.scope).inc()
        left = max(Decimal(0), budget.limit_usd - exc.spent - exc.reserved)
        return ApiError(
            429,
            f"the {budget.period} budget of {budget.scope} {budget.scope_id}"
            + (f" for {budget.model}" if budget.model else "")
            + f" would be exceeded: this call may cost up to ${money_str(amount)}, ${money_str(left)} is left"
            + " (lower max_tokens or raise the budget)",
            code="budget_exceeded",
            type_="insufficient_quota",
            extra={"budget_id": budget.id},
        )

    async def settle(self, reserved: Reserved, cost: Decimal | None) -> None:
        """Release the reservation and add the real cost (unpriced: 0), then alert on thresholds."""
        actual = cost or Decimal(0)
        await self.after_settle(reserved, actual, await self.ledger.settle(reserved, actual))

    async def after_settle(self, reserved: Reserved, actual: Decimal, spent: Sequence[Decimal]) -> None:
        """Alert on the thresholds the settled spend crossed."""
        if actual:
            await self._thresholds(reserved.slots, spent)

    async def _thresholds(self, slots: Sequence[Slot], spent: Sequence[Decimal]) -> None:
        rules = self._by_id()
        for slot, total in zip(slots, spent, strict=True):
            budget = rules.get(slot.budget_id)
            if budget is None:
                continue
            for threshold in budget.thresholds:
                mark = (slot.budget_id, slot.period_start, threshold)
                if mark in self._alerted or total < budget.limit_usd * threshold:
                    continue
                self._alerted.add(mark)
                await self._alert(budget, slot, threshold, total)

    async def _alert(self, budget: BudgetRule, slot: Slot, threshold: Decimal, spent: Decimal) -> None:
        """Once per budget, period and threshold across replicas: the alert row's key decides."""
        try:
            async with self.database.session() as session:
                await session.execute(
                    cerebra_budget_alerts.insert().values(
                        budget_id=budget.id,
                        period_start=slot.period_start,
                        threshold=threshold,
                        spent_usd=spent,
                        alerted_at=utcnow(),
                    )
                )
        except IntegrityError:
            return  # another replica (or an earlier process) alerted already
        except Exception as exc:  # noqa: BLE001 - the database is down: try on the next settled call
            self._alerted.discard((slot.budget_id, slot.period_start, threshold))
            log.warning("could not record a budget alert: %s", type(exc).__name__)
            return
        ALERTS.labels(budget.scope).inc()
        _, end = period_bounds(budget.period, slot.period_start)
        payload = {
            "event": THRESHOLD_EVENT,
            "budget_id": budget.id,
            "scope": budget.scope,
            "scope_id": budget.scope_id,
            "model": budget.model or None,
            "period": budget.period,
            "period_start": slot.period_start.isoformat(),
            "period_end": end.isoformat() if end else None,
            "threshold": str(threshold),
            "limit_usd": money_str(budget.limit_usd),
            "spent_usd": money_str(spent),
        }
        log.warning(
            "budget %s (%s %s, %s) crossed %s%% of $%s: $%s spent",
            budget.id,
            budget.scope,
            budget.scope_id,
            budget.period,
            threshold * 100,
            money_str(budget.limit_usd),
            money_str(spent),
            extra={"fields": payload},
        )
        if budget.webhook_url and self.notifier is not None:
            once = f"cerebra-budget:{budget.id}:{int(slot.period_start.timestamp())}:{threshold}"
            try:
                await self.notifier.send(budget.webhook_url, THRESHOLD_EVENT, payload, once_key=once)
            except Exception as exc:  # noqa: BLE001 - the alert row is written; the log line says it
                log.warning("could not queue the budget webhook: %s", type(exc).__name__)

    async def status(self, budget: BudgetRule) -> dict[str, Any]:
        """limit, spent, reserved, remaining and period end of a budget's current period."""
        ((rule, slot),) = self.slots([budget])
        try:
            spent, reserved = await self.ledger.state(slot)
        except Exception as exc:  # noqa: BLE001 - the kv or the database is away
            raise ApiError(503, "budget state is temporarily unavailable", code="budget_unavailable") from exc
        start, end = period_bounds(budget.period, utcnow())
        return {
            "budget_id": budget.id,
            "scope": budget.scope,
            "scope_id": budget.scope_id,
            "model": budget.model or None,
            "period": budget.period,
            "period_start": start,
            "period_end": end,
            "limit_usd": budget.limit_usd,
            "spent_usd": spent,
            "reserved_usd": reserved,
            "remaining_usd": max(Decimal(0), budget.limit_usd - spent - reserved),
        }

    async def forget_alerts(self, budget_id: int) -> None:
        """Forget the alerts of a budget (its limit or thresholds changed: they apply anew)."""
        self._alerted = {mark for mark in self._alerted if mark[0] != budget_id}
        async with self.database.session() as session:
            await session.execute(
                sa.delete(cerebra_budget_alerts).where(cerebra_budget_alerts.c.budget_id == budget_id)
            )
