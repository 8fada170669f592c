"""The Gateway: the objects every /v1 call uses (route table, upstream client, health, key store, log
writer) and the steps around the upstream call: plan before it, price and log after it."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from cerebra.budgets.guard import BudgetGuard
from cerebra.control.admission import ControlPlane
from cerebra.gateway.context import CallContext
from cerebra.gateway.metrics import CallMetrics
from cerebra.gateway.upstream import UpstreamClient
from cerebra.pricing.cost import request_cost
from cerebra.pricing.metrics import UNPRICED_CALLS
from cerebra.ratelimit.limiter import RateLimiter
from cerebra.routing.health import DeploymentHealth
from cerebra.routing.strategies import order
from cerebra.routing.table import Deployment, RouteTableSource
from cerebra.settings import CerebraSettings
from oco.auth import KeyStore
from oco.errors import ApiError
from oco.timeutil import utcnow
from oco.writer import BufferedWriter

if TYPE_CHECKING:
    from cerebra.cache.service import ResponseCache

log = logging.getLogger("cerebra.gateway")


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
        cache: ResponseCache | None = None,
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.keys = keys
        self.health = health
        self.upstream = upstream
        self.log_writer = log_writer
        self.limiter = limiter
        self.budgets = budgets
        self.cache = cache
        self.control = ControlPlane(limiter, budgets)
        self.max_body = settings.oco_cerebra_max_body_bytes
        self.deadline_s = settings.oco_cerebra_request_deadline_s
        self.metrics = CallMetrics(routes)

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
        """Price the call, feed latency/tokens back into routing, count it in the metrics and queue the log
        row (never blocks)."""
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
        self.metrics.record(ctx, time.perf_counter() - ctx.started)
        if self.log_writer is not None:
            self.log_writer.enqueue(ctx.log_row())

    async def admit(self, ctx: CallContext, body: dict, plan: list[Deployment]) -> None:
        """The control plane before a call: the caller's rate limits, then its budgets (429 when one is
        reached; nothing reaches a provider)."""
        await self.control.admit(ctx, body, plan)

    async def after_call(self, ctx: CallContext) -> None:
        """After every authenticated call: its tokens against the deployment's TPM window and the
        caller's token limits (the real count corrects the admitted estimate), and its budget
        reservations settled to its cost."""
        tokens = ctx.usage.total_tokens
        if tokens and ctx.deployment is not None and ctx.deployment.max_tpm is not None:
            await self.health.record_tokens(ctx.deployment.id, tokens, ctx.deployment.max_tpm)
        await self.control.settle(ctx)
