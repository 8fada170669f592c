"""Tables of cerebra's control plane (schema owned by migration 0018_cerebra_control): caller rate
limits, budgets, the budget ledger of record (settled spend per budget and period) and threshold alerts
already sent. `model` is '' for "every model" so that uniqueness holds in SQL."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

cerebra_rate_limits = sa.Table(
    "cerebra_rate_limits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(10), nullable=False),  # key | team
    sa.Column("scope_id", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),  # '' = every model
    sa.Column("rpm", sa.Integer, nullable=True),
    sa.Column("tpm", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("scope", "scope_id", "model", name="uq_cerebra_rate_limits_target"),
)

cerebra_budgets = sa.Table(
    "cerebra_budgets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(10), nullable=False),  # key | team | org | agent
    sa.Column("scope_id", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),  # '' = every model
    sa.Column("period", sa.String(10), nullable=False),  # daily | weekly | monthly | total
    sa.Column("limit_usd", sa.Numeric(18, 6), nullable=False),
    sa.Column("thresholds", sa.JSON, nullable=False),
    sa.Column("webhook_url", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("scope", "scope_id", "model", "period", name="uq_cerebra_budgets_target"),
)

cerebra_budget_spend = sa.Table(
    "cerebra_budget_spend",
    metadata,
    sa.Column("budget_id", sa.Integer, primary_key=True),
    sa.Column("period_start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("spent_usd", sa.Numeric(18, 6), nullable=False),
    sa.Column("reserved_usd", sa.Numeric(18, 6), nullable=False),  # used by the SQL back end only
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

cerebra_budget_alerts = sa.Table(
    "cerebra_budget_alerts",
    metadata,
    sa.Column("budget_id", sa.Integer, primary_key=True),
    sa.Column("period_start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("threshold", sa.Numeric(6, 4), primary_key=True),
    sa.Column("spent_usd", sa.Numeric(18, 6), nullable=False),
    sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False),
)

#: aliases set through the admin API: added to the route file's, or replacing an alias of the same name
cerebra_routes = sa.Table(
    "cerebra_routes",
    metadata,
    sa.Column("alias", sa.String(200), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),  # a RouteSpec, as in the route file
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

#: price rows set through the admin API, over the shipped table (USD per 1M tokens)
cerebra_prices = sa.Table(
    "cerebra_prices",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("effective_from", sa.Date, primary_key=True),
    sa.Column("input", sa.Numeric(18, 6), nullable=False),
    sa.Column("output", sa.Numeric(18, 6), nullable=False),
    sa.Column("cached_input", sa.Numeric(18, 6), nullable=True),
    sa.Column("cache_write_5m", sa.Numeric(18, 6), nullable=True),
    sa.Column("cache_write_1h", sa.Numeric(18, 6), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
