"""Economist ledger: cloud_costs (FOCUS-shaped rows), cloud_costs_daily (rollup kept by ingestion),
ingestions (one record per load) and fx_rates (dated currency rates).

With TimescaleDB, cloud_costs becomes a hypertable on charge_period_start and a daily continuous aggregate
(cloud_costs_daily_ts) is added for dashboards; the API keeps reading cloud_costs_daily, which ingestion
maintains in its own transaction, so a query never sees a half-refreshed aggregate.

Revision ID: 0003_economist
Revises: 0002_cerebra
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_economist"
down_revision = "0002_cerebra"
branch_labels = None
depends_on = None

# Money is exact: NUMERIC on PostgreSQL, TEXT on SQLite (whose NUMERIC affinity would store floats).
MONEY = sa.Numeric(30, 12).with_variant(sa.Text(), "sqlite")
QUANTITY = sa.Numeric(38, 18).with_variant(sa.Text(), "sqlite")
JSON_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)

# Runs only where the extension is installed, both online and in the rendered init.sql.
TIMESCALE = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    ALTER TABLE cloud_costs DROP CONSTRAINT cloud_costs_pkey;
    ALTER TABLE cloud_costs ADD PRIMARY KEY (id, charge_period_start);
    PERFORM create_hypertable('cloud_costs', 'charge_period_start',
                              chunk_time_interval => INTERVAL '7 days', migrate_data => true);
    EXECUTE $view$
      CREATE MATERIALIZED VIEW cloud_costs_daily_ts WITH (timescaledb.continuous) AS
      SELECT time_bucket(INTERVAL '1 day', charge_period_start) AS day,
             provider_name, service_name, COALESCE(sub_account_id, billing_account_id) AS account_id,
             region_id, billing_currency, charge_category,
             sum(billed_cost) AS billed_cost, sum(effective_cost) AS effective_cost,
             sum(list_cost) AS list_cost, sum(contracted_cost) AS contracted_cost, count(*) AS row_count
      FROM cloud_costs
      GROUP BY 1, 2, 3, 4, 5, 6, 7
      WITH NO DATA
    $view$;
    PERFORM add_continuous_aggregate_policy('cloud_costs_daily_ts',
      start_offset => INTERVAL '400 days', end_offset => INTERVAL '1 hour',
      schedule_interval => INTERVAL '1 hour');
  END IF;
END
$$;
"""


def _ledger_columns() -> list[sa.Column]:
    return [
        sa.Column("billed_cost", MONEY, nullable=False),
        sa.Column("effective_cost", MONEY, nullable=False),
        sa.Column("list_cost", MONEY, nullable=True),
        sa.Column("contracted_cost", MONEY, nullable=True),
        sa.Column("list_unit_price", MONEY, nullable=True),
        sa.Column("contracted_unit_price", MONEY, nullable=True),
        sa.Column("billing_currency", sa.Text(), nullable=False),
        sa.Column("pricing_quantity", QUANTITY, nullable=True),
        sa.Column("pricing_unit", sa.Text(), nullable=True),
        sa.Column("consumed_quantity", QUANTITY, nullable=True),
        sa.Column("consumed_unit", sa.Text(), nullable=True),
        sa.Column("billing_period_start", TIMESTAMP, nullable=False),
        sa.Column("billing_period_end", TIMESTAMP, nullable=False),
        sa.Column("charge_period_start", TIMESTAMP, nullable=False),
        sa.Column("charge_period_end", TIMESTAMP, nullable=False),
        sa.Column("billing_account_id", sa.Text(), nullable=True),
        sa.Column("billing_account_name", sa.Text(), nullable=True),
        sa.Column("sub_account_id", sa.Text(), nullable=True),
        sa.Column("sub_account_name", sa.Text(), nullable=True),
        sa.Column("provider_name", sa.Text(), nullable=False),
        sa.Column("publisher_name", sa.Text(), nullable=True),
        sa.Column("invoice_issuer_name", sa.Text(), nullable=True),
        sa.Column("invoice_id", sa.Text(), nullable=True),
        sa.Column("charge_category", sa.Text(), nullable=False),
        sa.Column("charge_class", sa.Text(), nullable=True),
        sa.Column("charge_description", sa.Text(), nullable=True),
        sa.Column("charge_frequency", sa.Text(), nullable=True),
        sa.Column("pricing_category", sa.Text(), nullable=True),
        sa.Column("service_category", sa.Text(), nullable=True),
        sa.Column("service_name", sa.Text(), nullable=True),
        sa.Column("region_id", sa.Text(), nullable=True),
        sa.Column("region_name", sa.Text(), nullable=True),
        sa.Column("availability_zone", sa.Text(), nullable=True),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column("resource_name", sa.Text(), nullable=True),
        sa.Column("resource_type", sa.Text(), nullable=True),
        sa.Column("sku_id", sa.Text(), nullable=True),
        sa.Column("sku_price_id", sa.Text(), nullable=True),
        sa.Column("commitment_discount_id", sa.Text(), nullable=True),
        sa.Column("commitment_discount_name", sa.Text(), nullable=True),
        sa.Column("commitment_discount_category", sa.Text(), nullable=True),
        sa.Column("commitment_discount_type", sa.Text(), nullable=True),
        sa.Column("commitment_discount_status", sa.Text(), nullable=True),
        sa.Column("tags", JSON_DOC, nullable=True),
    ]


def upgrade() -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    op.create_table(
        "cloud_costs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        *_ledger_columns(),
        sa.Column("tags_normalized", JSON_DOC, nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("ingestion_id", sa.Integer, nullable=False),
    )
    op.create_index("ix_cloud_costs_charge_period_start", "cloud_costs", ["charge_period_start"])
    op.create_index(
        "ix_cloud_costs_provider_service",
        "cloud_costs",
        ["provider_name", "service_name", "charge_period_start"],
    )
    op.create_index("ix_cloud_costs_ingestion", "cloud_costs", ["ingestion_id"])
    if postgresql:
        op.create_index(
            "ix_cloud_costs_tags",
            "cloud_costs",
            ["tags_normalized"],
            postgresql_using="gin",
            postgresql_ops={"tags_normalized": "jsonb_path_ops"},
        )

    op.create_table(
        "cloud_costs_daily",
        sa.Column("ingestion_id", sa.Integer, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("billing_period_start", TIMESTAMP, nullable=False),
        sa.Column("billing_account_id", sa.Text, nullable=False),
        sa.Column("provider_name", sa.Text, nullable=False),
        sa.Column("service_name", sa.Text, nullable=True),
        sa.Column("account_id", sa.Text, nullable=True),
        sa.Column("region_id", sa.Text, nullable=True),
        sa.Column("billing_currency", sa.Text, nullable=False),
        sa.Column("charge_category", sa.Text, nullable=False),
        sa.Column("billed_cost", MONEY, nullable=False),
        sa.Column("effective_cost", MONEY, nullable=False),
        sa.Column("list_cost", MONEY, nullable=True),
        sa.Column("contracted_cost", MONEY, nullable=True),
        sa.Column("row_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_cloud_costs_daily_day", "cloud_costs_daily", ["day"])
    op.create_index(
        "ix_cloud_costs_daily_provider_service", "cloud_costs_daily", ["provider_name", "service_name", "day"]
    )
    op.create_index("ix_cloud_costs_daily_ingestion", "cloud_costs_daily", ["ingestion_id"])

    op.create_table(
        "ingestions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("period_start", sa.Date, nullable=True),
        sa.Column("period_end", sa.Date, nullable=True),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("filename", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("replaced_rows", sa.BigInteger, nullable=False),
        sa.Column("totals", sa.JSON, nullable=False),
        sa.Column("slice", sa.JSON, nullable=True),
        sa.Column("rows_read", sa.BigInteger, nullable=False),
        sa.Column("bytes_read", sa.BigInteger, nullable=False),
        sa.Column("bytes_total", sa.BigInteger, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.Column("errors", sa.JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
    )
    op.create_index("ix_ingestions_source_status", "ingestions", ["source", "status"])
    op.create_index("ix_ingestions_created_at", "ingestions", ["created_at"])

    op.create_table(
        "fx_rates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rate_date", sa.Date, nullable=False),
        sa.Column("base", sa.String(8), nullable=False),
        sa.Column("quote", sa.String(8), nullable=False),
        sa.Column("rate", MONEY, nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("base", "quote", "rate_date", name="uq_fx_rates_pair_date"),
    )

    if postgresql:
        op.execute(TIMESCALE)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP MATERIALIZED VIEW IF EXISTS cloud_costs_daily_ts")
    op.drop_table("fx_rates")
    op.drop_index("ix_ingestions_created_at", table_name="ingestions")
    op.drop_index("ix_ingestions_source_status", table_name="ingestions")
    op.drop_table("ingestions")
    op.drop_index("ix_cloud_costs_daily_ingestion", table_name="cloud_costs_daily")
    op.drop_index("ix_cloud_costs_daily_provider_service", table_name="cloud_costs_daily")
    op.drop_index("ix_cloud_costs_daily_day", table_name="cloud_costs_daily")
    op.drop_table("cloud_costs_daily")
    if op.get_context().dialect.name == "postgresql":
        op.drop_index("ix_cloud_costs_tags", table_name="cloud_costs")
    op.drop_index("ix_cloud_costs_ingestion", table_name="cloud_costs")
    op.drop_index("ix_cloud_costs_provider_service", table_name="cloud_costs")
    op.drop_index("ix_cloud_costs_charge_period_start", table_name="cloud_costs")
    op.drop_table("cloud_costs")
