"""SQLAlchemy Core tables of disaster recovery (schema owned by migration 0011_aegis_dr): dr_plans (what to
protect, where to, and the targets) and dr_runs (drills, failovers and failbacks with their steps)."""

from __future__ import annotations

import sqlalchemy as sa

from aegis.backups.tables import JsonDocument, Timestamp, metadata

dr_plans = sa.Table(
    "dr_plans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("source_cluster", sa.String(200), nullable=False),
    sa.Column("target_cluster", sa.String(200), nullable=False),
    sa.Column("included_namespaces", JsonDocument, nullable=False),
    sa.Column("label_selector", sa.String(2000), nullable=True),
    sa.Column("storage_location", sa.String(63), nullable=False),
    # the schedule of the plan's backups: created and owned by the plan (backup_schedule) or named (schedule_id)
    sa.Column("schedule_id", sa.Integer, sa.ForeignKey("backup_jobs.id", ondelete="SET NULL"), nullable=True),
    sa.Column("owns_schedule", sa.Boolean, nullable=False),
    sa.Column("rpo_minutes", sa.Integer, nullable=False),
    sa.Column("rto_minutes", sa.Integer, nullable=False),
    sa.Column("readiness", JsonDocument, nullable=False),  # {"workloads_available": bool, "timeout_s": int}
    sa.Column("drill_schedule", sa.String(100), nullable=True),
    sa.Column("next_drill_at", Timestamp, nullable=True, index=True),
    sa.Column("remediate", sa.Boolean, nullable=False),
    sa.Column("remediation_backup_id", sa.Integer, nullable=True),
    # where the plan's workloads serve now: source_cluster, or target_cluster after a failover
    sa.Column("active_cluster", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

dr_runs = sa.Table(
    "dr_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "plan_id", sa.Integer, sa.ForeignKey("dr_plans.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("kind", sa.String(16), nullable=False),  # drill | failover | failback
    sa.Column("phase", sa.String(20), nullable=False, index=True),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("options", JsonDocument, nullable=False),  # keep, scale_source, final_backup
    # set while the run is unfinished, unique: one drill and one runbook at a time per plan
    sa.Column("active_key", sa.String(80), nullable=True, unique=True),
    sa.Column("short_id", sa.String(16), nullable=False),
    sa.Column("source_cluster", sa.String(200), nullable=False),
    sa.Column("target_cluster", sa.String(200), nullable=False),
    sa.Column("backup_id", sa.Integer, nullable=True),
    sa.Column("restore_id", sa.Integer, nullable=True),
    sa.Column("namespaces", JsonDocument, nullable=False),  # {source namespace: namespace restored into}
    sa.Column("steps", JsonDocument, nullable=False),  # [{name, status, started_at, finished_at, ...}]
    sa.Column("failed_checks", JsonDocument, nullable=False),  # [{step, check, reason, objects}]
    sa.Column("replicas", JsonDocument, nullable=False),  # {cluster, workloads: [{resource, ns, name, n}]}
    sa.Column("progress", JsonDocument, nullable=True),
    sa.Column("achieved_rto_s", sa.Float, nullable=True),
    sa.Column("achieved_rpo_s", sa.Float, nullable=True),
    sa.Column("passed", sa.Boolean, nullable=True),
    sa.Column("next_action", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("heartbeat_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=True),
    sa.Column("finished_at", Timestamp, nullable=True),
)
