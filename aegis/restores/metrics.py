"""Prometheus metrics of restore runs (module-level, served by the kernel's /metrics): runs by phase,
durations and restored objects by outcome (INTERRUPTED, of either kind of run, is aegis.backups.metrics')."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from aegis.backups.metrics import DURATION_BUCKETS, INTERRUPTED

__all__ = ["INTERRUPTED", "RESTORES", "RESTORES_RUNNING", "RESTORE_DURATION", "RESTORE_ITEMS"]

RESTORES = Counter("aegis_restores_total", "Restore runs that finished, by phase", ["phase"])
RESTORES_RUNNING = Gauge("aegis_restores_running", "Restore runs in progress in this process")
RESTORE_DURATION = Histogram(
    "aegis_restore_duration_seconds", "Duration of finished restore runs", buckets=DURATION_BUCKETS
)
RESTORE_ITEMS = Counter("aegis_restore_items_total", "Restored objects by outcome", ["outcome"])
