"""Prometheus metrics of schedules (module-level, served by the kernel's /metrics): last success, runs
started, fire times missed, and backups deleted by retention."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SCHEDULE_LAST_SUCCESS = Gauge(
    "aegis_schedule_last_success_timestamp_seconds",
    "Unix time of the last Completed backup of a schedule",
    ["schedule"],
)
SCHEDULE_RUNS = Counter("aegis_schedule_runs_total", "Backups started by the scheduler", ["schedule"])
SCHEDULE_MISSED = Counter(
    "aegis_schedule_missed_runs_total",
    "Fire times not run (scheduler down across them, or the previous run still going)",
    ["schedule"],
)
RETENTION_DELETED = Counter("aegis_retention_deleted_total", "Backups deleted by retention", ["reason"])
