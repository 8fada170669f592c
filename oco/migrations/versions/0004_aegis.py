"""Aegis: storage_locations, backup_jobs (specs and cron schedules), backup_records (every backup run)
and restore_records (every restore run). dr_plans comes with the DR issue.

Revision ID: 0004_aegis
Revises: 0003_economist
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_aegis"
down_revision = "0003_economist"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def _run_columns() -> list[sa.Column]:
    """Who runs a record and when (shared by backup and restore records)."""
    return [
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "storage_locations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("config", JSON_DOC, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("name", name="uq_storage_locations_name"),
    )
    op.create_table(
        "backup_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("cluster", sa.String(200), nullable=False),
        sa.Column("storage_location", sa.String(63), nullable=False),
        sa.Column("spec", JSON_DOC, nullable=False),
        sa.Column("cron", sa.String(100), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("keep_last", sa.Integer, nullable=True),
        sa.Column("ttl_hours", sa.Integer, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("last_run_at", TIMESTAMP, nullable=True),
        sa.Column("last_success_at", TIMESTAMP, nullable=True),
        sa.Column("next_run_at", TIMESTAMP, nullable=True),
        sa.Column("missed_runs", sa.Integer, nullable=False),
        sa.Column("last_backup_id", sa.Integer, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("name", name="uq_backup_jobs_name"),
    )
    op.create_index("ix_backup_jobs_next_run_at", "backup_jobs", ["next_run_at"])
    op.create_table(
        "backup_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey("backup_jobs.id", name="fk_backup_records_job_id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("cluster", sa.String(200), nullable=False),
        sa.Column("storage_location", sa.String(63), nullable=False),
        sa.Column("storage_key", sa.String(500), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("spec", JSON_DOC, nullable=False),
        sa.Column("items_total", sa.Integer, nullable=False),
        sa.Column("items_done", sa.Integer, nullable=False),
        sa.Column("counts", JSON_DOC, nullable=False),
        sa.Column("errors", JSON_DOC, nullable=False),
        sa.Column("warnings", JSON_DOC, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("server_version", sa.String(64), nullable=True),
        *_run_columns(),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.UniqueConstraint("name", name="uq_backup_records_name"),
    )
    op.create_index("ix_backup_records_job_id", "backup_records", ["job_id"])
    op.create_index("ix_backup_records_cluster", "backup_records", ["cluster"])
    op.create_index("ix_backup_records_phase", "backup_records", ["phase"])
    op.create_index("ix_backup_records_expires_at", "backup_records", ["expires_at"])
    op.create_table(
        "restore_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column(
            "backup_id",
            sa.Integer,
            sa.ForeignKey("backup_records.id", name="fk_restore_records_backup_id"),
            nullable=False,
        ),
        sa.Column("cluster", sa.String(200), nullable=False),
        sa.Column("spec", JSON_DOC, nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("items_total", sa.Integer, nullable=False),
        sa.Column("items_done", sa.Integer, nullable=False),
        sa.Column("created_count", sa.Integer, nullable=False),
        sa.Column("updated_count", sa.Integer, nullable=False),
        sa.Column("skipped_count", sa.Integer, nullable=False),
        sa.Column("failed_count", sa.Integer, nullable=False),
        sa.Column("results", JSON_DOC, nullable=False),
        sa.Column("not_planned", JSON_DOC, nullable=False),
        sa.Column("warnings", JSON_DOC, nullable=False),
        *_run_columns(),
        sa.UniqueConstraint("name", name="uq_restore_records_name"),
    )
    op.create_index("ix_restore_records_backup_id", "restore_records", ["backup_id"])
    op.create_index("ix_restore_records_phase", "restore_records", ["phase"])


def downgrade() -> None:
    op.drop_table("restore_records")
    op.drop_table("backup_records")
    op.drop_table("backup_jobs")
    op.drop_table("storage_locations")
