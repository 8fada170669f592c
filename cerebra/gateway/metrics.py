"""Prometheus metrics of /v1 calls, recorded once per call by Gateway.finish: calls by alias, provider and
status; request, upstream, time-to-first-token and gateway-overhead histograms; tokens and cost by model.

Per call this costs a few dict lookups and increments: the label children are bound once per label tuple
and cached. Label values a caller can choose are bounded: `alias` is a fixed alias of the route table,
`auto`, the wildcard pattern that served the name (`openai/*`), `native:<provider>` or `unknown`, never
the name the caller sent; `model` is the deployment's model, and for wildcard and native deployments
(where the caller picks it) only the first MODEL_LABEL_LIMIT distinct names a process sees, then `other`."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

from cerebra.gateway.context import CallContext
from cerebra.routing.table import Deployment, RouteTableSource

MODEL_LABEL_LIMIT = 100  # distinct caller-chosen model names per process before they count as `other`
OTHER = "other"
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
TOKEN_KINDS = ("prompt", "completion", "cache_read", "cache_write")

REQUESTS = Counter(
    "oco_cerebra_requests_total",
    "Authenticated /v1 calls by alias, provider and HTTP status (refusals and failures included)",
    ["alias", "provider", "status"],
)
REQUEST_SECONDS = Histogram(
    "oco_cerebra_request_duration_seconds",
    "Wall time of a /v1 call, from its first byte to its last (a stream's whole length)",
    ["alias", "provider"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_SECONDS = Histogram(
    "oco_cerebra_upstream_duration_seconds",
    "Time spent waiting on the provider (a stream: until its response headers), every attempt included",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)
TTFT_SECONDS = Histogram(
    "oco_cerebra_time_to_first_token_seconds",
    "Time from a streamed call's first byte to its first content event relayed to the caller",
    ["alias", "provider"],
    buckets=LATENCY_BUCKETS,
)
OVERHEAD_SECONDS = Histogram(
    "oco_cerebra_overhead_seconds",
    "Time a call spent in cerebra itself (wall time to the response headers minus upstream time and backoff)",
    ["endpoint"],
    buckets=OVERHEAD_BUCKETS,
)
TOKENS = Counter(
    "oco_cerebra_tokens_total",
    "Tokens the providers reported, by deployment model and kind (prompt, completion, cache_read, cache_write)",
    ["model", "kind"],
)
COST = Counter(
    "oco_cerebra_cost_usd_total",
    "Cost of the calls in USD by deployment model (a float, for dashboards; the request log holds the exact Decimal)",
    ["model"],
)


def alias_label(ctx: CallContext, routes: RouteTableSource) -> str:
    """The alias as a bounded label value (see the module docstring)."""
    alias = ctx.alias
    if alias is not None:
        table = routes.current()
        if alias in table.routes or alias == "auto":
            return alias
        route = table.route_for(alias)  # a wildcard's name: label it with its pattern
        if route is not None and route.deployments:
            return route.deployments[0].alias
        return "unknown"
    if ctx.deployment is not None:
        return ctx.deployment.alias  # native pass-through of a plain model name: native:<provider>
    return "none"


class CallMetrics:
    """Records one finished call; holds the bound label children and the bound on model labels."""

    __slots__ = ("routes", "_calls", "_upstream", "_overhead", "_models", "_caller_models")

    def __init__(self, routes: RouteTableSource) -> None:
        self.routes = routes
        self._calls: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        self._upstream: dict[str, Any] = {}
        self._overhead: dict[str, Any] = {}
        self._models: dict[str, tuple[Any, Any, Any, Any, Any]] = {}
        self._caller_models: set[str] = set()

    def record(self, ctx: CallContext, elapsed_s: float) -> None:
        """Count the call and observe its timings, tokens and cost."""
        provider = ctx.provider or "none"
        key = (alias_label(ctx, self.routes), provider, str(ctx.status))
        calls = self._calls.get(key)
        if calls is None:
            calls = (
                REQUESTS.labels(*key),
                REQUEST_SECONDS.labels(key[0], provider),
                TTFT_SECONDS.labels(key[0], provider),
            )
            self._calls[key] = calls
        calls[0].inc()
        calls[1].observe(elapsed_s)
        if ctx.ttft_ms is not None:
            calls[2].observe(ctx.ttft_ms / 1000)
        overhead = self._overhead.get(ctx.endpoint)
        if overhead is None:
            overhead = self._overhead[ctx.endpoint] = OVERHEAD_SECONDS.labels(ctx.endpoint)
        overhead.observe(ctx.overhead_us / 1_000_000)
        deployment = ctx.deployment
        if deployment is None:
            return
        if ctx.upstream_s > 0:
            upstream = self._upstream.get(provider)
            if upstream is None:
                upstream = self._upstream[provider] = UPSTREAM_SECONDS.labels(provider)
            upstream.observe(ctx.upstream_s)
        usage = ctx.usage
        if not (usage.prompt_tokens or usage.completion_tokens or ctx.cost):
            return
        model = self._model_children(deployment)
        if usage.prompt_tokens:
            model[0].inc(usage.prompt_tokens)
        if usage.completion_tokens:
            model[1].inc(usage.completion_tokens)
        if usage.cache_read_tokens:
            model[2].inc(usage.cache_read_tokens)
        if usage.cache_creation_tokens:
            model[3].inc(usage.cache_creation_tokens)
        if ctx.cost:
            model[4].inc(float(ctx.cost))

    def _model_children(self, deployment: Deployment) -> tuple[Any, Any, Any, Any, Any]:
        name = deployment.model
        children = self._models.get(name)
        if children is not None:
            return children
        if "*" in deployment.alias or deployment.alias.startswith("native:"):  # the caller chose the name
            if name not in self._caller_models and len(self._caller_models) >= MODEL_LABEL_LIMIT:
                name = OTHER
            else:
                self._caller_models.add(name)
        children = self._models.get(name)
        if children is None:
            prompt, completion, cache_read, cache_write = (TOKENS.labels(name, kind) for kind in TOKEN_KINDS)
            children = (prompt, completion, cache_read, cache_write, COST.labels(name))
            self._models[name] = children
        return children
