"""Cerebra stored responses: `cerebra_responses` keeps a /v1/responses answer (`store: true`) and the
conversation before it, per API key, until `expires_at` (OCO_CEREBRA_RESPONSES_TTL_DAYS); expired rows
are purged by the gateway.

Revision ID: 0013_cerebra_responses
Revises: 0011_aegis_dr
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_cerebra_responses"
down_revision = "0011_aegis_dr"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cerebra_responses",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("deployment_id", sa.String(300), nullable=True),
        sa.Column("input_json", sa.Text, nullable=False),
        sa.Column("response_json", sa.Text, nullable=False),
    )
    op.create_index("ix_cerebra_responses_expires_at", "cerebra_responses", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_cerebra_responses_expires_at", table_name="cerebra_responses")
    op.drop_table("cerebra_responses")
