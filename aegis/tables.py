"""SQLAlchemy Core tables of aegis (schema owned by migration 0004_aegis): backup_jobs (specs + schedules),
backup_records (every backup run), storage_locations, restore_records, and the record phases."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

# Phases of backup and restore records (the engine's, plus Deleted for backups whose archive is gone).
NEW = "New"
IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
PARTIALLY_FAILED = "PartiallyFailed"
FAILED = "Failed"
DELETED = "Deleted"
PHASES = (NEW, IN_PROGRESS, COMPLETED, PARTIALLY_FAILED, FAILED, DELETED)
UNFINISHED = (NEW, IN_PROGRESS)
RESTORABLE = (COMPLETED, PARTIALLY_FAILED)  # a backup with an archive worth reading
INTERRUPTED = "interrupted"

storage_locations = sa.Table(
    "storage_locations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("config", JsonDocument, nullable=False),  # path | bucket, prefix, region, endpoint_url
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

backup_jobs = sa.Table(
    "backup_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("cluster", sa.String(200), nullable=False),
    sa.Column("storage_location", sa.String(63), nullable=False),
    sa.Column("spec", JsonDocument, nullable=False),  # the selection (namespaces, resources, ...)
    sa.Column("cron", sa.String(100), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("keep_last", sa.Integer, nullable=True),
    sa.Column("ttl_hours", sa.Integer, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("last_run_at", Timestamp, nullable=True),
    sa.Column("last_success_at", Timestamp, nullable=True),
    sa.Column("next_run_at", Timestamp, nullable=True, index=True),
    sa.Column("missed_runs", sa.Integer, nullable=False),
    sa.Column("last_backup_id", sa.Integer, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

backup_records = sa.Table(
    "backup_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column(
        "job_id", sa.Integer, sa.ForeignKey("backup_jobs.id", ondelete="SET NULL"), nullable=True, index=True
    ),
    sa.Column("cluster", sa.String(200), nullable=False, index=True),
    sa.Column("storage_location", sa.String(63), nullable=False),
    sa.Column("storage_key", sa.String(500), nullable=False),
    sa.Column("phase", sa.String(20), nullable=False, index=True),
    sa.Column("spec", JsonDocument, nullable=False),
    sa.Column("items_total", sa.Integer, nullable=False),
    sa.Column("items_done", sa.Integer, nullable=False),
    sa.Column("counts", JsonDocument, nullable=False),  # objects per resource ("deployments.apps": 3)
    sa.Column("errors", JsonDocument, nullable=False),  # [{"item", "reason"}]
    sa.Column("warnings", JsonDocument, nullable=False),
    sa.Column("error", sa.Text, nullable=True),  # why the run failed as a whole
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("encrypted", sa.Boolean, nullable=False),
    sa.Column("server_version", sa.String(64), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("owner", sa.String(64), nullable=True),  # the process running it
    sa.Column("heartbeat_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=True),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.Column("expires_at", Timestamp, nullable=True, index=True),
    sa.Column("deleted_at", Timestamp, nullable=True),
)

restore_records = sa.Table(
    "restore_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("backup_id", sa.Integer, sa.ForeignKey("backup_records.id"), nullable=False, index=True),
    sa.Column("cluster", sa.String(200), nullable=False),
    sa.Column("spec", JsonDocument, nullable=False),
    sa.Column("phase", sa.String(20), nullable=False, index=True),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("items_total", sa.Integer, nullable=False),
    sa.Column("items_done", sa.Integer, nullable=False),
    sa.Column("created_count", sa.Integer, nullable=False),
    sa.Column("updated_count", sa.Integer, nullable=False),
    sa.Column("skipped_count", sa.Integer, nullable=False),
    sa.Column("failed_count", sa.Integer, nullable=False),
    sa.Column(
        "results", JsonDocument, nullable=False
    ),  # [{"resource","namespace","name","outcome","message"}]
    sa.Column("not_planned", JsonDocument, nullable=False),  # skip reason -> objects not applied
    sa.Column("warnings", JsonDocument, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("heartbeat_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=True),
    sa.Column("finished_at", Timestamp, nullable=True),
)


def progress_percent(phase: str, done: int, total: int) -> float | None:
    """How far a run is, for the API: 100 once it ended with its items handled, else done/total."""
    if phase in (COMPLETED, PARTIALLY_FAILED):
        return 100.0
    return round(min(100.0, 100.0 * done / total), 1) if total else None
