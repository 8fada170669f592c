"""Aegis keys: backup_records name the key id their archive is sealed with (NULL: unencrypted, or written
before key ids) and the time an S3 Object Lock retains it until; rekey_runs records every `oco aegis rekey`
(re-encrypting archives to the current key), with per-archive outcomes.

Revision ID: 0012_aegis_keys
Revises: 0013_cerebra_responses
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012_aegis_keys"
down_revision = "0013_cerebra_responses"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("backup_records") as batch:
        batch.add_column(sa.Column("encryption_key_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("retain_until", TIMESTAMP, nullable=True))
    op.create_table(
        "rekey_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("include_unencrypted", sa.Boolean, nullable=False),
        sa.Column("storage_location", sa.String(63), nullable=True),
        sa.Column("target_key_id", sa.String(64), nullable=True),
        sa.Column("items_total", sa.Integer, nullable=False),
        sa.Column("items_done", sa.Integer, nullable=False),
        sa.Column("counts", JSON_DOC, nullable=False),
        sa.Column("items", JSON_DOC, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
    )
    op.create_index("ix_rekey_runs_phase", "rekey_runs", ["phase"])


def downgrade() -> None:
    op.drop_index("ix_rekey_runs_phase", table_name="rekey_runs")
    op.drop_table("rekey_runs")
    with op.batch_alter_table("backup_records") as batch:
        batch.drop_column("retain_until")
        batch.drop_column("encryption_key_id")
