"""Aegis disaster recovery: dr_plans (scope, clusters, RPO/RTO targets, schedules) and dr_runs (drills,
failovers and failbacks with per-step timings; `active_key` is set while a run is unfinished and unique, so
a plan has at most one drill and one runbook running).

Revision ID: 0011_aegis_dr
Revises: 0018_cerebra_control
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011_aegis_dr"
down_revision = "0018_cerebra_control"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dr_plans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("source_cluster", sa.String(200), nullable=False),
        sa.Column("target_cluster", sa.String(200), nullable=False),
        sa.Column("included_namespaces", JSON_DOC, nullable=False),
        sa.Column("label_selector", sa.String(2000), nullable=True),
        sa.Column("storage_location", sa.String(63), nullable=False),
        sa.Column(
            "schedule_id", sa.Integer, sa.ForeignKey("backup_jobs.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("owns_schedule", sa.Boolean, nullable=False),
        sa.Column("rpo_minutes", sa.Integer, nullable=False),
        sa.Column("rto_minutes", sa.Integer, nullable=False),
        sa.Column("readiness", JSON_DOC, nullable=False),
        sa.Column("drill_schedule", sa.String(100), nullable=True),
        sa.Column("next_drill_at", TIMESTAMP, nullable=True),
        sa.Column("remediate", sa.Boolean, nullable=False),
        sa.Column("remediation_backup_id", sa.Integer, nullable=True),
        sa.Column("active_cluster", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("name", name="uq_dr_plans_name"),
    )
    op.create_index("ix_dr_plans_next_drill_at", "dr_plans", ["next_drill_at"])
    op.create_table(
        "dr_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("dr_plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("options", JSON_DOC, nullable=False),
        sa.Column("active_key", sa.String(80), nullable=True),
        sa.Column("short_id", sa.String(16), nullable=False),
        sa.Column("source_cluster", sa.String(200), nullable=False),
        sa.Column("target_cluster", sa.String(200), nullable=False),
        sa.Column("backup_id", sa.Integer, nullable=True),
        sa.Column("restore_id", sa.Integer, nullable=True),
        sa.Column("namespaces", JSON_DOC, nullable=False),
        sa.Column("steps", JSON_DOC, nullable=False),
        sa.Column("failed_checks", JSON_DOC, nullable=False),
        sa.Column("replicas", JSON_DOC, nullable=False),
        sa.Column("progress", JSON_DOC, nullable=True),
        sa.Column("achieved_rto_s", sa.Float, nullable=True),
        sa.Column("achieved_rpo_s", sa.Float, nullable=True),
        sa.Column("passed", sa.Boolean, nullable=True),
        sa.Column("next_action", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.UniqueConstraint("active_key", name="uq_dr_runs_active_key"),
    )
    op.create_index("ix_dr_runs_plan_id", "dr_runs", ["plan_id"])
    op.create_index("ix_dr_runs_phase", "dr_runs", ["phase"])


def downgrade() -> None:
    op.drop_table("dr_runs")
    op.drop_table("dr_plans")
