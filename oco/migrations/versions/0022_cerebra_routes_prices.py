"""Cerebra admin API: routes and prices set over HTTP, applied by every replica without a restart.

Revision ID: 0022_cerebra_routes_prices
Revises: 0019_cerebra_log_columns
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_cerebra_routes_prices"
down_revision = "0019_cerebra_log_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cerebra_routes",
        sa.Column("alias", sa.String(200), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cerebra_prices",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("effective_from", sa.Date, primary_key=True),
        sa.Column("input", sa.Numeric(18, 6), nullable=False),
        sa.Column("output", sa.Numeric(18, 6), nullable=False),
        sa.Column("cached_input", sa.Numeric(18, 6), nullable=True),
        sa.Column("cache_write_5m", sa.Numeric(18, 6), nullable=True),
        sa.Column("cache_write_1h", sa.Numeric(18, 6), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cerebra_prices")
    op.drop_table("cerebra_routes")
