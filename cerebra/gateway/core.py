"""The Gateway: the objects every /v1 call uses (route table, upstream client, health, key store, log
writer) and the steps around the upstream call: plan before it, price and log after it."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from cerebra.budgets.guard import BudgetGuard, PlannedReservation
from cerebra.budgets.ledger import RESERVE, SETTLE, BudgetExceeded, KvLedger, Reserved
from cerebra.control.estimate import prompt_tokens
from cerebra.control.scripts import chain, chained_args, split
from cerebra.gateway.context import CallContext
from cerebra.gateway.upstream import UpstreamClient
from cerebra.pricing.cost import request_cost
from cerebra.pricing.metrics import UNPRICED_CALLS
from cerebra.ratelimit.gcra import GCRA
from cerebra.ratelimit.limiter import PlannedAdmission, RateLimiter
from cerebra.routing.health import DeploymentHealth
from cerebra.routing.strategies import order
from cerebra.routing.table import Deployment, RouteTableSource
from cerebra.settings import CerebraSettings
from oco.auth import KeyStore
from oco.errors import ApiError
from oco.timeutil import utcnow
from oco.writer import BufferedWriter

log = logging.getLogger("cerebra.gateway")
ADMIT = chain(GCRA, RESERVE, gated=True)  # rate limits, then (when admitted) budget reservations
SETTLE_AFTER = chain(GCRA, SETTLE, gated=False)  # the token correction and the budget settlement


def unknown_model(model: str) -> ApiError:
    return ApiError(
        404,
        f"the model '{model[:200]}' does not exist or is not served by this gateway",
        code="model_not_found",
        param="model",
    )


class Gateway:
    """Shared state of the /v1 surface for one process."""

    def __init__(
        self,
        settings: CerebraSettings,
        routes: RouteTableSource,
        keys: KeyStore,
        health: DeploymentHealth,
        upstream: UpstreamClient,
        log_writer: BufferedWriter | None,
        limiter: RateLimiter | None = None,
        budgets: BudgetGuard | None = None,
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.keys = keys
        self.health = health
        self.upstream = upstream
        self.log_writer = log_writer
        self.limiter = limiter
        self.budgets = budgets
        self.max_body = settings.oco_cerebra_max_body_bytes
        self.deadline_s = settings.oco_cerebra_request_deadline_s

    # -- before the upstream call -----------------------------------------------------------------
    def plan(self, model: str, body: dict, *, provider: str | None = None) -> list[Deployment]:
        """The deployments to try for `model`, in order: the alias's (by its strategy), then each
        fallback alias's. `model: "auto"` without an `auto` alias means every deployment, auto-picked
        (mock deployments only when there is nothing else: their 0 price must not win the ranking).
        With `provider`, only that provider's deployments (native pass-through)."""
        table = self.routes.current()
        route = table.route_for(model)  # an alias, or a name a wildcard alias (`openai/*`) matches
        latency = self.health.latency_ms
        plan: list[Deployment] = []
        seen: set[str] = set()
        queue = [route] if route is not None else []
        if route is None:
            if model != "auto" or not table.routes:
                raise unknown_model(model)
            candidates = [d for d in table.all_deployments() if not provider or d.provider == provider]
            real = [d for d in candidates if d.provider != "mock"]
            plan = order(
                "auto", real or candidates, body=body, latency_ms=latency
            )  # mock: priced 0, last resort
        while queue:
            current = queue.pop(0)
            if current.alias in seen:
                continue
            seen.add(current.alias)
            candidates = [d for d in current.deployments if not provider or d.provider == provider]
            plan.extend(order(current.strategy, candidates, body=body, latency_ms=latency))
            queue.extend(table.routes[name] for name in current.fallbacks)
        if not plan:
            if provider:
                raise ApiError(
                    400,
                    f"the alias '{model}' has no {provider} deployment",
                    param="model",
                    code="model_not_found",
                )
            raise ApiError(
                400,
                f"no deployment of '{model}' can serve this request (context, tools, images or JSON mode)",
                param="model",
                code="no_capable_deployment",
            )
        return plan

    def deadline(self) -> float:
        return time.monotonic() + self.deadline_s

    # -- after the upstream call ------------------------------------------------------------------
    def finish(self, ctx: CallContext) -> None:
        """Price the call, feed latency/tokens back into routing, and queue the log row (never blocks)."""
        deployment = ctx.deployment
        if deployment is not None:
            usage = ctx.usage
            prices = deployment.prices_on(utcnow().date())
            ctx.unpriced = prices is None
            if prices is None:
                UNPRICED_CALLS.labels(deployment.provider).inc()
            ctx.cost = request_cost(
                prices,
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cache_read_tokens,
                usage.cache_creation_tokens,
                usage.cache_creation_1h_tokens,
            )
            if ctx.status < 300:
                self.health.record_latency(deployment.id, ctx.upstream_s * 1000)
        if self.log_writer is not None:
            self.log_writer.enqueue(ctx.log_row())

    async def admit(self, ctx: CallContext, body: dict, plan: list[Deployment]) -> None:
        """The control plane before a call: the caller's rate limits, then its budgets (429 when one is
        reached; nothing reaches a provider). Both on the same kv: one atomic run (one round trip), the
        budgets reserved only when the rate limits admitted the call."""
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

    async def after_call(self, ctx: CallContext) -> None:
        """After every authenticated call: its tokens against the deployment's TPM window and the
        caller's token limits (the real count corrects the admitted estimate), and its budget
        reservations settled to its cost (both in one kv run when they share the kv)."""
        tokens = ctx.usage.total_tokens
        if tokens and ctx.deployment is not None and ctx.deployment.max_tpm is not None:
            await self.health.record_tokens(ctx.deployment.id, tokens, ctx.deployment.max_tpm)
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
        try:
            result = await ledger.kv.run(
                SETTLE_AFTER, keys + settle_keys, chained_args(keys, args, settle_args)
            )
            spent = ledger.settled(reserved, cost, split(result)[1] or [])
            await self.budgets.after_settle(reserved, cost, spent)
        except Exception:  # noqa: BLE001 - the call is over; its row in the log still carries the cost
            log.exception("could not count tokens against rate limits and settle a budget reservation")
