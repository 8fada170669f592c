"""Economist: ingestions carry the owner and heartbeat of the process running them (oco.runs), as backup and
restore records do, so a running service tells a live `oco economist ingest` from one a dead process left.

Revision ID: 0006_ingestion_owner
Revises: 0005_economist_bulk_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_ingestion_owner"
down_revision = "0005_economist_bulk_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingestions") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingestions") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
