"""Prometheus metrics of backup runs (module-level, served by the kernel's /metrics): runs by phase,
durations, archive bytes and items, and runs of either kind marked interrupted."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)

BACKUPS = Counter("aegis_backups_total", "Backup runs that finished, by phase", ["phase"])
BACKUPS_RUNNING = Gauge("aegis_backups_running", "Backup runs in progress in this process")
BACKUP_DURATION = Histogram(
    "aegis_backup_duration_seconds", "Duration of finished backup runs", buckets=DURATION_BUCKETS
)
BACKUP_BYTES = Counter("aegis_backup_archive_bytes_total", "Bytes of archives written to storage")
BACKUP_LAST_SIZE = Gauge(
    "aegis_backup_last_archive_bytes", "Size of the last archive written, per cluster", ["cluster"]
)
BACKUP_ITEMS = Counter("aegis_backup_items_total", "Objects written into archives")
BACKUP_ITEM_ERRORS = Counter("aegis_backup_item_errors_total", "Items a backup could not save")

INTERRUPTED = Counter(
    "aegis_interrupted_runs_total", "Runs marked Failed 'interrupted' (shutdown or a dead process)", ["kind"]
)
