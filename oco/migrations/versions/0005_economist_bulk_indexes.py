"""Economist: a cloud_costs that bulk loads can afford.

cloud_costs loses its surrogate `id` (nothing reads it; a sequence call and a B-tree entry per row were 16% of
a 1M-row COPY; with TimescaleDB the key had to include the time column anyway).

Every index on cloud_costs is paid for on every ingested row, and measured on a 1M-row load they cost more
than the COPY itself. Rows arrive one load at a time, so ingestion_id and (within a load, by month)
charge_period_start follow the physical order: a BRIN index answers the slice replacement and the time
window of raw-row queries for a few pages instead of a B-tree entry per row. Queries by provider and service
read the daily rollup, so the raw-row (provider, service, time) B-tree is dropped; so is the GIN index on
normalized tags (tag filters run inside the time window instead). SQLite keeps its B-trees.

Revision ID: 0005_economist_bulk_indexes
Revises: 0004_aegis
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_economist_bulk_indexes"
down_revision = "0004_aegis"
branch_labels = None
depends_on = None


# A hypertable's unique keys must include its time column (as 0003 made it).
RESTORE_PRIMARY_KEY = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    ALTER TABLE cloud_costs ADD PRIMARY KEY (id, charge_period_start);
  ELSE
    ALTER TABLE cloud_costs ADD PRIMARY KEY (id);
  END IF;
END
$$;
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        with op.batch_alter_table("cloud_costs") as batch:  # SQLite rebuilds the table without the column
            batch.drop_column("id")
        return
    op.drop_column("cloud_costs", "id")  # and its primary key
    op.drop_index("ix_cloud_costs_tags", table_name="cloud_costs")
    op.drop_index("ix_cloud_costs_provider_service", table_name="cloud_costs")
    op.drop_index("ix_cloud_costs_ingestion", table_name="cloud_costs")
    op.drop_index("ix_cloud_costs_charge_period_start", table_name="cloud_costs")
    op.create_index("ix_cloud_costs_ingestion", "cloud_costs", ["ingestion_id"], postgresql_using="brin")
    op.create_index(
        "ix_cloud_costs_charge_period_start", "cloud_costs", ["charge_period_start"], postgresql_using="brin"
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        with op.batch_alter_table("cloud_costs", recreate="always") as batch:
            batch.add_column(sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True))
        return
    op.execute("ALTER TABLE cloud_costs ADD COLUMN id BIGSERIAL NOT NULL")
    op.execute(RESTORE_PRIMARY_KEY)
    op.drop_index("ix_cloud_costs_charge_period_start", table_name="cloud_costs")
    op.drop_index("ix_cloud_costs_ingestion", table_name="cloud_costs")
    op.create_index("ix_cloud_costs_charge_period_start", "cloud_costs", ["charge_period_start"])
    op.create_index("ix_cloud_costs_ingestion", "cloud_costs", ["ingestion_id"])
    op.create_index(
        "ix_cloud_costs_provider_service",
        "cloud_costs",
        ["provider_name", "service_name", "charge_period_start"],
    )
    op.create_index(
        "ix_cloud_costs_tags",
        "cloud_costs",
        ["tags_normalized"],
        postgresql_using="gin",
        postgresql_ops={"tags_normalized": "jsonb_path_ops"},
    )
