"""Economist: cost_budgets (a spend limit per scope and period, with alert thresholds) and cost_budget_alerts
(each threshold crossed, once per budget and period: the record that makes it alert once).

Revision ID: 0009_economist_budgets
Revises: 0008_economist_recommendations
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_economist_budgets"
down_revision = "0008_economist_recommendations"
branch_labels = None
depends_on = None

# Money is exact: NUMERIC on PostgreSQL, TEXT on SQLite (as in 0003_economist).
MONEY = sa.Numeric(30, 12).with_variant(sa.Text(), "sqlite")
JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cost_budgets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", JSON_DOC, nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("thresholds", JSON_DOC, nullable=False),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("name", name="uq_cost_budgets_name"),
    )
    op.create_table(
        "cost_budget_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "budget_id", sa.Integer, sa.ForeignKey("cost_budgets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("percent", sa.Integer, nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),  # actual | forecast
        sa.Column("spent", MONEY, nullable=False),
        sa.Column("forecast", MONEY, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint(
            "budget_id", "period_start", "period_end", "percent", "basis", name="uq_cost_budget_alerts_once"
        ),
    )


def downgrade() -> None:
    op.drop_table("cost_budget_alerts")
    op.drop_table("cost_budgets")
