"""Aegis's Prometheus metrics (module-level, served by the kernel's /metrics): runs by phase, durations,
archive bytes, items, schedule health and retention."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)

BACKUPS = Counter("aegis_backups_total", "Backup runs that finished, by phase", ["phase"])
BACKUPS_RUNNING = Gauge("aegis_backups_running", "Backup runs in progress in this process")
BACKUP_DURATION = Histogram(
    "aegis_backup_duration_seconds", "Duration of finished backup runs", buckets=_DURATION_BUCKETS
)
BACKUP_BYTES = Counter("aegis_backup_archive_bytes_total", "Bytes of archives written to storage")
BACKUP_LAST_SIZE = Gauge(
    "aegis_backup_last_archive_bytes", "Size of the last archive written, per cluster", ["cluster"]
)
BACKUP_ITEMS = Counter("aegis_backup_items_total", "Objects written into archives")
BACKUP_ITEM_ERRORS = Counter("aegis_backup_item_errors_total", "Items a backup could not save")

RESTORES = Counter("aegis_restores_total", "Restore runs that finished, by phase", ["phase"])
RESTORES_RUNNING = Gauge("aegis_restores_running", "Restore runs in progress in this process")
RESTORE_DURATION = Histogram(
    "aegis_restore_duration_seconds", "Duration of finished restore runs", buckets=_DURATION_BUCKETS
)
RESTORE_ITEMS = Counter("aegis_restore_items_total", "Restored objects by outcome", ["outcome"])

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
INTERRUPTED = Counter(
    "aegis_interrupted_runs_total", "Runs marked Failed 'interrupted' (shutdown or a dead process)", ["kind"]
)
