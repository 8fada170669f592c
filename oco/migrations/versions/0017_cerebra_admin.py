"""Cerebra admin API: keys carry an org and a model allow-list; teams and orgs are rows; every admin
write is recorded in `audit_log` (who, when, what, before and after).

Revision ID: 0017_cerebra_admin
Revises: 0016_cerebra_unpriced
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_cerebra_admin"
down_revision = "0016_cerebra_unpriced"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("org", sa.String(200), nullable=True))
        batch.add_column(sa.Column("models", sa.JSON, nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("actor_key_id", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(60), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"])
    op.create_table(
        "cerebra_orgs",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cerebra_teams",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("org", sa.String(200), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cerebra_teams")
    op.drop_table("cerebra_orgs")
    op.drop_index("ix_audit_log_entity", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("models")
        batch.drop_column("org")
