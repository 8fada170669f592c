"""SQLAlchemy Core table of storage locations (schema owned by migration 0004_aegis)."""

from __future__ import annotations

import sqlalchemy as sa

from aegis.backups.tables import JsonDocument, Timestamp, metadata

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
