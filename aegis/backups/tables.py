"""SQLAlchemy Core tables of backups (schema owned by migration 0004_aegis): backup_jobs (specs + schedules)
and backup_records (every backup run), and the one MetaData every aegis table belongs to."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

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
    # the key id the archive's header names (migration 0012_aegis_keys); NULL: unencrypted or older
    sa.Column("encryption_key_id", sa.String(64), nullable=True),
    # S3 Object Lock: the archive cannot be deleted before this time
    sa.Column("retain_until", Timestamp, nullable=True),
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
