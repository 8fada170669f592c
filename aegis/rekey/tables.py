"""SQLAlchemy Core table of rekey runs (schema owned by migration 0012_aegis_keys), in aegis's MetaData."""

from __future__ import annotations

import sqlalchemy as sa

from aegis.backups.tables import JsonDocument, Timestamp, metadata

rekey_runs = sa.Table(
    "rekey_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("phase", sa.String(20), nullable=False, index=True),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("include_unencrypted", sa.Boolean, nullable=False),
    sa.Column("storage_location", sa.String(63), nullable=True),  # only this location's archives
    sa.Column("target_key_id", sa.String(64), nullable=True),
    sa.Column("items_total", sa.Integer, nullable=False),
    sa.Column("items_done", sa.Integer, nullable=False),
    sa.Column("counts", JsonDocument, nullable=False),  # {"rekeyed": 3, "skipped": 1, "failed": 0}
    sa.Column("items", JsonDocument, nullable=False),  # one result per archive considered
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("heartbeat_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=True),
    sa.Column("finished_at", Timestamp, nullable=True),
)
