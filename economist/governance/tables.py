"""Core tables of governance (schema owned by migration 0010_economist_governance)."""

from __future__ import annotations

import sqlalchemy as sa

from economist.ledger.tables import JsonDocument, Money

metadata = sa.MetaData()

governance_policies = sa.Table(
    "governance_policies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column(
        "scope", JsonDocument, nullable=False
    ),  # provider/account/service/region/tag the rows must match
    sa.Column("params", JsonDocument, nullable=False),  # the type's own settings (money as strings)
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("webhook_url", sa.Text, nullable=True),
    sa.Column("webhook_format", sa.String(16), nullable=False),  # json | slack
    sa.Column("origin", sa.String(16), nullable=False),  # api | file (OCO_ECONOMIST_POLICIES)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_evaluated_at", sa.DateTime(timezone=True), nullable=True),
)

policy_violations = sa.Table(
    "policy_violations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "policy_id", sa.Integer, sa.ForeignKey(governance_policies.c.id, ondelete="CASCADE"), nullable=False
    ),
    sa.Column("resource", sa.Text, nullable=False),
    #: "<policy id>:<resource>" while unresolved, NULL once resolved; unique, so never two unresolved
    sa.Column("open_key", sa.Text, nullable=True, unique=True),
    sa.Column("status", sa.String(16), nullable=False),  # open | acknowledged | suppressed | resolved
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("evidence", JsonDocument, nullable=False),
    sa.Column("cost_at_stake", Money(), nullable=False),
    sa.Column("currency", sa.String(8), nullable=True),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acknowledged_by", sa.String(200), nullable=True),
    sa.Column("suppressed_reason", sa.Text, nullable=True),
    sa.Column("suppressed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("suppressed_by", sa.String(200), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
