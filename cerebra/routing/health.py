"""Deployment health: a circuit breaker whose cooldowns are shared through oco.kv (so replicas agree),
per-deployment RPM/TPM windows, and an in-process latency EWMA for the least-latency strategy."""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Gauge

from oco.kv import KV

log = logging.getLogger("cerebra.health")

CACHE_LIMIT = 10_000  # per-process entries kept per deployment id (native model names are caller-chosen)
COOLDOWNS = Counter("cerebra_deployment_cooldowns_total", "Deployments put in cooldown", ["deployment"])
COOLING_UNTIL = Gauge(
    "oco_cerebra_deployment_cooldown_until_seconds",
    "Unix time until which a deployment is cooling down, set by the process that tripped it (in cooldown "
    "while above time(): count(max by (deployment) (this) > time()))",
    ["deployment"],
    multiprocess_mode="max",  # a stale value of a stopped worker is a past time: harmless
)
COOLING_LABEL_LIMIT = 1_000  # distinct deployment ids per process (wildcard/native ids embed caller names)
KV_ERRORS = Counter("cerebra_kv_errors_total", "kv operations that failed (treated as healthy)", ["op"])


class DeploymentHealth:
    """`failures_to_trip` failures within `window_s` cool a deployment down for `cooldown_s` seconds
    (or for the upstream's Retry-After when longer). Cooldown reads are cached locally for
    `local_cache_s` so the hot path does not hit Redis on every request."""

    def __init__(
        self,
        kv: KV,
        *,
        failures_to_trip: int = 3,
        window_s: float = 60.0,
        cooldown_s: float = 30.0,
        local_cache_s: float = 0.5,
        ewma_alpha: float = 0.3,
        fail_closed: bool = False,
    ) -> None:
        self.kv = kv
        self.failures_to_trip = failures_to_trip
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.local_cache_s = local_cache_s
        self.ewma_alpha = ewma_alpha
        self._cooldown_cache: dict[str, tuple[float, float]] = {}  # id -> (cooling_until, checked_at)
        self.latency_ms: dict[str, float] = {}
        self.fail_closed = fail_closed  # OCO_RATELIMIT_FAIL_MODE=closed: kv down means over the limit
        self._cooling_labels: set[str] = set()

    async def cooling_until(self, deployment_id: str) -> float:
        """Wall-clock time until which the deployment is cooling down (0 when healthy)."""
        now = time.time()
        cached = self._cooldown_cache.get(deployment_id)
        if cached is not None and now - cached[1] < self.local_cache_s:
            return cached[0]
        try:
            raw = await self.kv.get(f"cerebra:cooldown:{deployment_id}")
        except Exception:  # noqa: BLE001 - kv down: fail open, the deployment counts as healthy
            KV_ERRORS.labels("cooldown_get").inc()
            raw = None
        until = float(raw) if raw else 0.0
        if len(self._cooldown_cache) >= CACHE_LIMIT:
            self._cooldown_cache.clear()
        self._cooldown_cache[deployment_id] = (until, now)
        return until

    async def is_cooling(self, deployment_id: str) -> bool:
        return await self.cooling_until(deployment_id) > time.time()

    async def record_failure(self, deployment_id: str, retry_after_s: float | None = None) -> bool:
        """Count a failure; returns True when this failure tripped the breaker."""
        try:
            failures = await self.kv.incr(f"cerebra:failures:{deployment_id}", 1, ttl_s=self.window_s)
            if failures < self.failures_to_trip and not retry_after_s:
                return False
            cooldown = max(
                self.cooldown_s if failures >= self.failures_to_trip else 0.0, retry_after_s or 0.0
            )
            until = time.time() + cooldown
            await self.kv.set(f"cerebra:cooldown:{deployment_id}", repr(until), ttl_s=cooldown)
            await self.kv.delete(f"cerebra:failures:{deployment_id}")
        except Exception:  # noqa: BLE001 - kv down: no shared breaker, still serve
            KV_ERRORS.labels("record_failure").inc()
            return False
        self._cooldown_cache[deployment_id] = (until, time.time())
        COOLDOWNS.labels(deployment_id).inc()
        self._publish_cooldown(deployment_id, until)
        log.warning("deployment %s cooling down for %.1fs", deployment_id, cooldown)
        return True

    def _publish_cooldown(self, deployment_id: str, until: float) -> None:
        """Set the deployment's cooldown-until gauge (ids past COOLING_LABEL_LIMIT share `other`)."""
        label = deployment_id
        if label not in self._cooling_labels:
            if len(self._cooling_labels) >= COOLING_LABEL_LIMIT:
                label = "other"
            else:
                self._cooling_labels.add(label)
        COOLING_UNTIL.labels(label).set(until)

    def record_latency(self, deployment_id: str, latency_ms: float) -> None:
        """Fold one observed latency into the deployment's EWMA."""
        previous = self.latency_ms.get(deployment_id)
        if previous is None and len(self.latency_ms) >= CACHE_LIMIT:
            self.latency_ms.clear()
        self.latency_ms[deployment_id] = (
            latency_ms if previous is None else previous + self.ewma_alpha * (latency_ms - previous)
        )

    async def within_limits(self, deployment_id: str, max_rpm: int | None, max_tpm: int | None) -> bool:
        """Count this request against the deployment's per-minute windows; False when over a limit."""
        if max_rpm is None and max_tpm is None:
            return True
        minute = int(time.time() // 60)
        try:
            if max_tpm is not None:
                raw = await self.kv.get(f"cerebra:tpm:{deployment_id}:{minute}")
                if raw is not None and int(raw) >= max_tpm:
                    return False
            if max_rpm is not None:
                count = await self.kv.incr(f"cerebra:rpm:{deployment_id}:{minute}", 1, ttl_s=120)
                if count > max_rpm:
                    return False
        except Exception:  # noqa: BLE001 - kv down: OCO_RATELIMIT_FAIL_MODE decides
            KV_ERRORS.labels("limits").inc()
            return not self.fail_closed
        return True

    async def record_tokens(self, deployment_id: str, tokens: int, max_tpm: int | None) -> None:
        """Add a finished request's tokens to the deployment's TPM window."""
        if max_tpm is None or tokens <= 0:
            return
        minute = int(time.time() // 60)
        try:
            await self.kv.incr(f"cerebra:tpm:{deployment_id}:{minute}", tokens, ttl_s=120)
        except Exception:  # noqa: BLE001
            KV_ERRORS.labels("tpm").inc()
