"""Prometheus metrics of rekey (module-level, served by the kernel's /metrics): archives by outcome."""

from __future__ import annotations

from prometheus_client import Counter

REKEYED = Counter(
    "aegis_rekey_archives_total",
    "Archives a rekey run handled, by outcome (rekeyed, skipped, failed)",
    ["outcome"],
)
