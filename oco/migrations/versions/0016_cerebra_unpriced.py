"""Cerebra: the request log says when a call's cost is unknown.

`api_requests.unpriced` is true when the call was routed to a deployment whose model has no price in
the catalog or the route table: its `cost_usd` is then NULL, never a silent $0.

Revision ID: 0016_cerebra_unpriced
Revises: 0010_economist_governance
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_cerebra_unpriced"
down_revision = "0010_economist_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_requests") as batch:
        batch.add_column(sa.Column("unpriced", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("api_requests") as batch:
        batch.drop_column("unpriced")
