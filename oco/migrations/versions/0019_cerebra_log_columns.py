"""Cerebra request log: what the control plane adds to each row.

`error_type` is the error's type/code class (e.g. rate_limit_exceeded, budget_exceeded, upstream_error),
`cache_hit` whether the response cache answered, `saved_cost_usd` what a hit would have cost.

Revision ID: 0019_cerebra_log_columns
Revises: 0012_aegis_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_cerebra_log_columns"
down_revision = "0012_aegis_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_requests") as batch:
        batch.add_column(sa.Column("error_type", sa.String(60), nullable=True))
        batch.add_column(sa.Column("cache_hit", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("saved_cost_usd", sa.Numeric(18, 6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_requests") as batch:
        batch.drop_column("saved_cost_usd")
        batch.drop_column("cache_hit")
        batch.drop_column("error_type")
