"""Cerebra request log: api_requests (a hypertable with TimescaleDB, a plain time-indexed table without).

Revision ID: 0002_cerebra
Revises: 0001_kernel
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_cerebra"
down_revision = "0001_kernel"
branch_labels = None
depends_on = None

# Runs only where the extension is installed, both online and in the rendered init.sql.
HYPERTABLE = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    PERFORM create_hypertable('api_requests', 'created_at', migrate_data => true);
  END IF;
END
$$;
"""


def upgrade() -> None:
    op.create_table(
        "api_requests",
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=True),
        sa.Column("team_id", sa.String(200), nullable=True),
        sa.Column("agent_id", sa.String(200), nullable=True),
        sa.Column("org_id", sa.String(200), nullable=True),
        sa.Column("endpoint", sa.String(40), nullable=False),
        sa.Column("alias", sa.String(200), nullable=True),
        sa.Column("provider", sa.String(20), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("deployment_id", sa.String(300), nullable=True),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cache_read_tokens", sa.Integer, nullable=False),
        sa.Column("cache_creation_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Numeric(18, 6), nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("overhead_us", sa.Integer, nullable=False),
        sa.Column("ttft_ms", sa.Integer, nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
    )
    op.create_index("ix_api_requests_created_at", "api_requests", ["created_at"])
    op.create_index("ix_api_requests_team_created", "api_requests", ["team_id", "created_at"])
    op.create_index("ix_api_requests_key_created", "api_requests", ["key_id", "created_at"])
    if op.get_context().dialect.name == "postgresql":
        op.execute(HYPERTABLE)


def downgrade() -> None:
    op.drop_index("ix_api_requests_key_created", table_name="api_requests")
    op.drop_index("ix_api_requests_team_created", table_name="api_requests")
    op.drop_index("ix_api_requests_created_at", table_name="api_requests")
    op.drop_table("api_requests")
