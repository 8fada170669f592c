"""Core tables of recommendations (migration 0008_economist_recommendations): optimization_recommendations
(one row per type + resource, kept across refreshes) and resource_utilization (the latest posted usage)."""

from __future__ import annotations

import sqlalchemy as sa

from economist.ledger.tables import JsonDocument, Money, Quantity, metadata

#: statuses a refresh still works on (a dismissed one stays dismissed; an implemented one may reopen)
ACTIVE_STATUSES = ("open", "accepted")
STATUSES = ("open", "accepted", "dismissed", "implemented")

optimization_recommendations = sa.Table(
    "optimization_recommendations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("resource_id", sa.Text, nullable=False),
    sa.Column("resource_name", sa.Text, nullable=True),
    sa.Column("provider", sa.Text, nullable=True),
    sa.Column("billing_account_id", sa.Text, nullable=True),
    sa.Column("account_id", sa.Text, nullable=True),
    sa.Column("region", sa.Text, nullable=True),
    sa.Column("service_name", sa.Text, nullable=True),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("estimated_monthly_saving", Money(), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("evidence", JsonDocument, nullable=False),
    sa.Column("confidence", sa.String(8), nullable=False),
    sa.Column("effort", sa.String(8), nullable=False),
    sa.Column("risk", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_reason", sa.Text, nullable=True),
    sa.Column("status_by", sa.String(200), nullable=True),
    sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("type", "resource_id", name="uq_optimization_recommendations_type_resource"),
    sa.Index("ix_optimization_recommendations_status", "status", "type"),
)

resource_utilization = sa.Table(
    "resource_utilization",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resource_id", sa.Text, nullable=False),
    sa.Column("metric", sa.String(16), nullable=False),
    sa.Column("size", sa.Text, nullable=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sample_count", sa.Integer, nullable=True),
    sa.Column("p50", Quantity(), nullable=True),
    sa.Column("p95", Quantity(), nullable=False),
    sa.Column("max", Quantity(), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("resource_id", "metric", name="uq_resource_utilization_resource_metric"),
)
