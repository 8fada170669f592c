"""Per-request state of a gateway call: who asked, for what, timings, usage and the log row it leaves."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from cerebra.budgets.ledger import Reserved
from cerebra.cache.pending import PendingWrite
from cerebra.control.rules import CallScopes
from cerebra.providers import Usage
from cerebra.ratelimit.limiter import Admission
from cerebra.routing.table import Deployment
from oco.auth import Principal
from oco.timeutil import utcnow


@dataclass(slots=True)
class CallContext:
    """Everything the request log and the response headers need about one call."""

    request_id: str
    endpoint: str
    principal: Principal | None = None
    team_id: str | None = None
    agent_id: str | None = None
    org_id: str | None = None
    alias: str | None = None
    stream: bool = False
    started: float = field(default_factory=time.perf_counter)
    upstream_s: float = 0.0
    waited_s: float = 0.0
    deployment: Deployment | None = None
    provider: str | None = None
    model: str | None = None
    attempts: int = 0
    status: int = 200
    usage: Usage = field(default_factory=Usage)
    cost: Decimal | None = None
    unpriced: bool = False  # routed to a deployment whose model has no price: cost is unknown, not $0
    ttft_ms: int | None = None
    error: str | None = None
    error_type: str | None = None  # the error's code (rate_limit_exceeded, budget_exceeded, ...)
    cache_hit: bool = False
    saved_cost: Decimal | None = None  # what a cache hit would have cost
    cache_status: bytes | None = None  # x-oco-cache (hit/miss/skip) on a cacheable call
    cache_pending: PendingWrite | None = None  # a miss's answer, stored once the call is priced
    overhead_us: int = 0
    rate: Admission | None = None  # what the caller rate limits charged (x-ratelimit-* headers)
    budget: Reserved | None = None  # what the call reserved in its budgets, settled after it

    def overhead_now(self) -> int:
        """Microseconds spent in cerebra itself so far (wall time minus upstream time and backoff waits)."""
        elapsed = time.perf_counter() - self.started
        return max(0, int((elapsed - self.upstream_s - self.waited_s) * 1_000_000))

    def log_row(self) -> dict:
        """The `api_requests` row of this call."""
        return {
            "request_id": _cut(self.request_id, 64),
            "created_at": utcnow(),
            "key_id": self.principal.key_id if self.principal else None,
            "team_id": _cut(self.team_id, 200),
            "agent_id": _cut(self.agent_id, 200),
            "org_id": _cut(self.org_id, 200),
            "endpoint": _cut(self.endpoint, 40),
            "alias": _cut(self.alias, 200),
            "provider": _cut(self.provider, 20),
            "model": _cut(self.model, 200),
            "deployment_id": _cut(self.deployment.id, 300) if self.deployment else None,
            "status_code": self.status,
            "stream": self.stream,
            "attempts": self.attempts,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cache_read_tokens": self.usage.cache_read_tokens,
            "cache_creation_tokens": self.usage.cache_creation_tokens,
            "cost_usd": self.cost,
            "unpriced": self.unpriced,
            "latency_ms": int((time.perf_counter() - self.started) * 1000),
            "overhead_us": self.overhead_us,
            "ttft_ms": self.ttft_ms,
            "error": self.error[:500] if self.error else None,
            "error_type": _cut(self.error_type, 60),
            "cache_hit": self.cache_hit,
            "saved_cost_usd": self.saved_cost,
        }

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """x-oco-* headers (x-request-id is added by the observability middleware)."""
        self.overhead_us = self.overhead_now()
        return [
            (b"x-oco-provider", _header_value(self.provider)),
            (b"x-oco-model", _header_value(self.model)),
            (b"x-oco-attempts", str(self.attempts).encode()),
            (b"x-oco-overhead-ms", f"{self.overhead_us / 1000:.3f}".encode()),
            *(self.rate.headers if self.rate is not None else ()),
            *(((b"x-oco-cache", self.cache_status),) if self.cache_status is not None else ()),
        ]

    def scopes(self) -> CallScopes:
        """Who the call counts for (rate limits, budgets)."""
        return CallScopes(
            self.principal.key_id if self.principal else None, self.team_id, self.org_id, self.agent_id
        )


def _cut(value: str | None, width: int) -> str | None:
    """Fit a caller-influenced string into its column (PostgreSQL rejects longer ones, and with them
    the whole batch)."""
    return value if value is None or len(value) <= width else value[:width]


def _header_value(value: str | None) -> bytes:
    """A header-safe rendering: printable ASCII only, at most 200 characters."""
    if not value:
        return b""
    return _printable(value[:200])


@lru_cache(maxsize=1024)  # provider and model names: a handful per route table (at most 200 chars each)
def _printable(value: str) -> bytes:
    return "".join(c if " " <= c <= "~" else "?" for c in value).encode()
