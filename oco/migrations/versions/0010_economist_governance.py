"""Economist governance: governance_policies (the rules), policy_violations (what they found, at most one
unresolved per policy and resource: `open_key` is set while unresolved and unique; NULLs never collide, on
both back ends) and the kernel's notification_deliveries (outgoing webhooks, their attempts and outcome).

Revision ID: 0010_economist_governance
Revises: 0009_economist_budgets
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_economist_governance"
down_revision = "0009_economist_budgets"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(30, 12).with_variant(sa.Text(), "sqlite")
JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "governance_policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("scope", JSON_DOC, nullable=False),
        sa.Column("params", JSON_DOC, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("webhook_format", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("last_evaluated_at", TIMESTAMP, nullable=True),
    )
    op.create_table(
        "policy_violations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "policy_id",
            sa.Integer,
            sa.ForeignKey("governance_policies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("open_key", sa.Text, nullable=True, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("evidence", JSON_DOC, nullable=False),
        sa.Column("cost_at_stake", MONEY, nullable=False),
        sa.Column("currency", sa.String(8), nullable=True),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("acknowledged_at", TIMESTAMP, nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("suppressed_reason", sa.Text, nullable=True),
        sa.Column("suppressed_until", TIMESTAMP, nullable=True),
        sa.Column("suppressed_by", sa.String(200), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_policy_violations_policy_status", "policy_violations", ["policy_id", "status"])
    op.create_index("ix_policy_violations_status", "policy_violations", ["status", "last_seen_at"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("dedupe_key", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_http_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("attempt_log", sa.JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
    )
    op.create_index(
        "ix_notification_deliveries_due", "notification_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index("ix_notification_deliveries_created", "notification_deliveries", ["created_at"])
    op.create_index(
        "uq_notification_deliveries_dedupe",
        "notification_deliveries",
        ["service", "dedupe_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_notification_deliveries_dedupe", table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_created", table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_policy_violations_status", table_name="policy_violations")
    op.drop_index("ix_policy_violations_policy_status", table_name="policy_violations")
    op.drop_table("policy_violations")
    op.drop_table("governance_policies")
