"""The control plane around a call, for the Gateway: before it, the caller's rate limits then its
budget reservations; after it, the rate limits' token correction and the budget settlement. When the
budgets' ledger lives on the rate limiter's kv (Redis, or the in-process kv), each pair is one atomic kv
run (cerebra/control/scripts.py): two round trips per governed call instead of four, with the same
outcomes (a call a rate limit refuses reserves nothing). A call no rule covers costs no kv run and no
token estimate."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from cerebra.budgets.guard import BudgetGuard, PlannedReservation
from cerebra.budgets.ledger import RESERVE, SETTLE, BudgetExceeded, KvLedger, Reserved
from cerebra.control.estimate import prompt_tokens
from cerebra.control.scripts import chain, chained_args, split
from cerebra.ratelimit.gcra import GCRA
from cerebra.ratelimit.limiter import PlannedAdmission, RateLimiter
from cerebra.routing.table import Deployment
from oco.errors import ApiError

if TYPE_CHECKING:
    from cerebra.gateway.context import CallContext

log = logging.getLogger("cerebra.gateway")
ADMIT = chain(GCRA, RESERVE, gated=True)  # rate limits, then (when admitted) budget reservations
SETTLE_AFTER = chain(GCRA, SETTLE, gated=False)  # the token correction and the budget settlement


def budget_unavailable(exc: BaseException) -> ApiError:
    """503 for a budgeted call whose budgets cannot be checked (Redis or the database away): a budget is
    never overshot for want of its numbers."""
    log.warning("budgets unreachable (%s): refusing a budgeted call", type(exc).__name__)
    return ApiError(
        503,
        "budgets are temporarily unavailable; retry shortly",
        code="budget_unavailable",
        headers={"retry-after": "5"},
    )


class ControlPlane:
    """Rate limits and budgets around one call (either may be absent)."""

    def __init__(self, limiter: RateLimiter | None, budgets: BudgetGuard | None) -> None:
        self.limiter = limiter
        self.budgets = budgets

    async def admit(self, ctx: CallContext, body: dict, plan: list[Deployment]) -> None:
        """The caller's rate limits, then its budgets (429 when one is reached; nothing reaches a
        provider). Both on the same kv: one atomic run, the budgets reserved only when the rate limits
        admitted the call."""
        scopes = ctx.scopes()
        estimate: list[int] = []  # the prompt's token estimate, computed once and only if a rule applies

        def prompt() -> int:
            if not estimate:
                estimate.append(prompt_tokens(body))
            return estimate[0]

        rate = self.limiter.plan(scopes, ctx.alias, prompt) if self.limiter is not None else None
        budget = (
            self.budgets.plan(scopes, ctx.alias, plan, body, prompt) if self.budgets is not None else None
        )
        if rate is not None and budget is not None and self._chained() is not None:
            await self._admit_chained(ctx, rate, budget)
            return
        if rate is not None:
            assert self.limiter is not None
            try:
                result = await self.limiter.kv.run(GCRA, rate.keys, rate.args)
            except Exception as exc:  # noqa: BLE001 - kv down: the fail mode decides
                self.limiter.unreachable(exc)  # fail open: no rate headers
            else:
                ctx.rate = self.limiter.decide(rate, result)
        if budget is not None:
            ctx.budget = await self._reserve(budget)

    def _chained(self) -> KvLedger | None:
        """The budgets' kv ledger when it shares the rate limiter's kv (their runs can be chained)."""
        ledger = self.budgets.ledger if self.budgets is not None else None
        if isinstance(ledger, KvLedger) and self.limiter is not None and ledger.kv is self.limiter.kv:
            return ledger
        return None

    async def _reserve(self, budget: PlannedReservation) -> Reserved:
        assert self.budgets is not None
        pairs, amount = budget
        try:
            return await self.budgets.ledger.reserve([slot for _, slot in pairs], amount)
        except BudgetExceeded as exc:
            raise self.budgets.refusal(pairs, amount, exc) from None
        except Exception as exc:  # noqa: BLE001 - the ledger is unreachable: refuse rather than overshoot
            raise budget_unavailable(exc) from None

    async def _admit_chained(
        self, ctx: CallContext, rate: PlannedAdmission, budget: PlannedReservation
    ) -> None:
        ledger, limiter = self._chained(), self.limiter
        assert ledger is not None and limiter is not None and self.budgets is not None
        pairs, amount = budget
        slots = [slot for _, slot in pairs]
        keys, args = ledger.reserve_call(slots, amount)
        try:
            result = await limiter.kv.run(ADMIT, rate.keys + keys, chained_args(rate.keys, rate.args, args))
        except Exception as exc:  # noqa: BLE001 - kv down: the rate limiter's fail mode, then the budgets
            limiter.unreachable(exc)  # fail open: no rate headers
            ctx.budget = await self._reserve(budget)
            return
        first, second = split(result)
        ctx.rate = limiter.decide(rate, first)  # 429 when refused (then nothing was reserved)
        assert second is not None
        try:
            ctx.budget = await ledger.reserved(slots, amount, second)
        except BudgetExceeded as exc:
            raise self.budgets.refusal(pairs, amount, exc) from None
        if ctx.budget is None:  # the kv had lost a budget's numbers: loaded now, reserve on its own
            ctx.budget = await self._reserve(budget)

    async def settle(self, ctx: CallContext) -> None:
        """After the call: its real tokens against the caller's token limits (correcting the admitted
        estimate), and its budget reservations settled to its cost (one kv run when they share the kv)."""
        tokens = ctx.usage.total_tokens
        correction = None
        if ctx.rate is not None and self.limiter is not None:
            correction = self.limiter.correction(ctx.rate, tokens)
        if ctx.budget is not None and self.budgets is not None:
            reserved, ctx.budget = ctx.budget, None
            ledger = self._chained() if correction is not None else None
            if ledger is not None:
                assert correction is not None
                await self._settle_chained(ledger, correction, reserved, ctx.cost or Decimal(0))
                return
            await self._run_correction(correction)
            try:
                await self.budgets.settle(reserved, ctx.cost)
            except Exception:  # noqa: BLE001 - the call is over; its row in the log still carries the cost
                log.exception("could not settle a budget reservation")
            return
        await self._run_correction(correction)

    async def _run_correction(self, correction: tuple[list[str], list[str | int]] | None) -> None:
        if correction is None or self.limiter is None:
            return
        try:
            await self.limiter.kv.run(GCRA, *correction)
        except Exception as exc:  # noqa: BLE001 - best effort after the call
            log.warning("could not count tokens against rate limits: %s", type(exc).__name__)

    async def _settle_chained(
        self,
        ledger: KvLedger,
        correction: tuple[list[str], list[str | int]],
        reserved: Reserved,
        cost: Decimal,
    ) -> None:
        assert self.budgets is not None
        keys, args = correction
        settle_keys, settle_args = ledger.settle_call(reserved, cost)
        ledger.owe(reserved, cost)
        try:
            result = await ledger.kv.run(
                SETTLE_AFTER, keys + settle_keys, chained_args(keys, args, settle_args)
            )
            spent = ledger.settled(reserved, cost, split(result)[1] or [])
            await self.budgets.after_settle(reserved, cost, spent)
        except Exception:  # noqa: BLE001 - the call is over; its row in the log still carries the cost
            log.exception("could not count tokens against rate limits and settle a budget reservation")
