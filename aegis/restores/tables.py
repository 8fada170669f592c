"""SQLAlchemy Core table of restore runs (schema owned by migration 0004_aegis); it references backup_records."""

from __future__ import annotations

import sqlalchemy as sa

from aegis.backups.tables import JsonDocument, Timestamp, metadata

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
