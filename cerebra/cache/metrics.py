"""Response cache metrics: hits and misses per alias, and kv failures (the cache fails open)."""

from __future__ import annotations

from prometheus_client import Counter

CACHE_HITS = Counter(
    "oco_cerebra_cache_hits_total", "Calls answered from the response cache (no provider called)", ["alias"]
)
CACHE_MISSES = Counter(
    "oco_cerebra_cache_misses_total", "Cacheable calls the response cache could not answer", ["alias"]
)
CACHE_ERRORS = Counter(
    "oco_cerebra_cache_backend_errors_total",
    "Response cache reads or writes that failed (the call went on as a miss / was not stored)",
    ["op"],
)
