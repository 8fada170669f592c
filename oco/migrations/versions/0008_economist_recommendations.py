"""Economist recommendations: optimization_recommendations (the seed's table: one row per type + resource,
with its evidence, saving and status lifecycle) and resource_utilization (posted cpu/memory percentiles).

Revision ID: 0008_economist_recommendations
Revises: 0006_ingestion_owner
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_economist_recommendations"
down_revision = "0006_ingestion_owner"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(30, 12).with_variant(sa.Text(), "sqlite")
QUANTITY = sa.Numeric(38, 18).with_variant(sa.Text(), "sqlite")
JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "optimization_recommendations",
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
        sa.Column("estimated_monthly_saving", MONEY, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("evidence", JSON_DOC, nullable=False),
        sa.Column("confidence", sa.String(8), nullable=False),
        sa.Column("effort", sa.String(8), nullable=False),
        sa.Column("risk", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("status_by", sa.String(200), nullable=True),
        sa.Column("status_at", TIMESTAMP, nullable=True),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("type", "resource_id", name="uq_optimization_recommendations_type_resource"),
    )
    op.create_index(
        "ix_optimization_recommendations_status", "optimization_recommendations", ["status", "type"]
    )
    op.create_table(
        "resource_utilization",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("size", sa.Text, nullable=True),
        sa.Column("window_start", TIMESTAMP, nullable=True),
        sa.Column("window_end", TIMESTAMP, nullable=True),
        sa.Column("sample_count", sa.Integer, nullable=True),
        sa.Column("p50", QUANTITY, nullable=True),
        sa.Column("p95", QUANTITY, nullable=False),
        sa.Column("max", QUANTITY, nullable=True),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("resource_id", "metric", name="uq_resource_utilization_resource_metric"),
    )


def downgrade() -> None:
    op.drop_table("resource_utilization")
    op.drop_index("ix_optimization_recommendations_status", table_name="optimization_recommendations")
    op.drop_table("optimization_recommendations")
