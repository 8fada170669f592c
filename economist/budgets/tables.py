"""Core tables of budgets (schema owned by migration 0009_economist_budgets)."""

from __future__ import annotations

import sqlalchemy as sa

from economist.ledger.tables import JsonDocument, Money

metadata = sa.MetaData()

cost_budgets = sa.Table(
    "cost_budgets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("scope", JsonDocument, nullable=False),
    sa.Column("period", sa.String(16), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("metric", sa.String(16), nullable=False),
    sa.Column("thresholds", JsonDocument, nullable=False),
    sa.Column("webhook_url", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

cost_budget_alerts = sa.Table(
    "cost_budget_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("budget_id", sa.Integer, sa.ForeignKey(cost_budgets.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("percent", sa.Integer, nullable=False),
    sa.Column("basis", sa.String(16), nullable=False),  # actual | forecast
    sa.Column("spent", Money(), nullable=False),
    sa.Column("forecast", Money(), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint(
        "budget_id", "period_start", "period_end", "percent", "basis", name="uq_cost_budget_alerts_once"
    ),
)
