"""SQLAlchemy Core table definitions of the kernel (the schema itself is owned by the Alembic migrations)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key_prefix", sa.String(16), nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("org", sa.String(200), nullable=True),
    sa.Column("models", sa.JSON, nullable=True),  # the aliases it may call (cerebra); NULL: any
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
)

#: who changed what, when, with the row before and after (oco/audit.py)
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("service", sa.String(40), nullable=False),
    sa.Column("actor_key_id", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(200), nullable=True),
    sa.Column("action", sa.String(40), nullable=False),  # create | update | delete | revoke
    sa.Column("entity", sa.String(60), nullable=False),
    sa.Column("entity_id", sa.String(200), nullable=False),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Index("ix_audit_log_entity", "entity", "entity_id"),
)

#: outgoing webhooks of every service (oco/notify.py): the exact body signed, each attempt, the outcome
notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service", sa.String(40), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event", sa.String(100), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("dedupe_key", sa.Text, nullable=True),  # one delivery per (service, key): "send once"
    sa.Column("status", sa.String(16), nullable=False),  # pending | succeeded | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_http_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("attempt_log", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
)
