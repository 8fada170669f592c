"""Cerebra control plane: caller rate limits, budgets, the budget ledger of record and the threshold
alerts sent once per budget and period.

Revision ID: 0018_cerebra_control
Revises: 0017_cerebra_admin
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_cerebra_control"
down_revision = "0017_cerebra_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cerebra_rate_limits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("scope_id", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("tpm", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scope", "scope_id", "model", name="uq_cerebra_rate_limits_target"),
    )
    op.create_table(
        "cerebra_budgets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("scope_id", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("limit_usd", sa.Numeric(18, 6), nullable=False),
        sa.Column("thresholds", sa.JSON, nullable=False),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scope", "scope_id", "model", "period", name="uq_cerebra_budgets_target"),
    )
    op.create_table(
        "cerebra_budget_spend",
        sa.Column("budget_id", sa.Integer, primary_key=True),
        sa.Column("period_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("spent_usd", sa.Numeric(18, 6), nullable=False),
        sa.Column("reserved_usd", sa.Numeric(18, 6), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cerebra_budget_alerts",
        sa.Column("budget_id", sa.Integer, primary_key=True),
        sa.Column("period_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("threshold", sa.Numeric(6, 4), primary_key=True),
        sa.Column("spent_usd", sa.Numeric(18, 6), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cerebra_budget_alerts")
    op.drop_table("cerebra_budget_spend")
    op.drop_table("cerebra_budgets")
    op.drop_table("cerebra_rate_limits")
