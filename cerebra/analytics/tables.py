"""The request log table and its hourly rollup (schema owned by migrations 0002_cerebra,
0016_cerebra_unpriced, 0019_cerebra_log_columns and 0021_cerebra_analytics)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

api_requests = sa.Table(
    "api_requests",
    metadata,
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
    sa.Column("unpriced", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("overhead_us", sa.Integer, nullable=False),
    sa.Column("ttft_ms", sa.Integer, nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("error_type", sa.String(60), nullable=True),
    sa.Column("cache_hit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("saved_cost_usd", sa.Numeric(18, 6), nullable=True),
)

#: PostgreSQL only (migration 0021_cerebra_analytics): the log summed per UTC hour (`api_requests_hourly`,
#: time column `hour`) and per UTC day (`api_requests_daily`, time column `day`) and key, team, org, agent,
#: alias, provider and model. Without TimescaleDB tables kept current by a statement trigger on
#: `api_requests` (missing dimensions stored as '' and key 0); with it real-time continuous aggregates of
#: the same names and columns.


def _rollup(name: str, time_column: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column(time_column, sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=True),
        sa.Column("team_id", sa.String(200), nullable=True),
        sa.Column("org_id", sa.String(200), nullable=True),
        sa.Column("agent_id", sa.String(200), nullable=True),
        sa.Column("alias", sa.String(200), nullable=True),
        sa.Column("provider", sa.String(20), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_creation_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Numeric(24, 6), nullable=True),
        sa.Column("unpriced_requests", sa.BigInteger, nullable=False),
        sa.Column("cache_hits", sa.BigInteger, nullable=False),
        sa.Column("saved_cost_usd", sa.Numeric(24, 6), nullable=True),
    )


api_requests_hourly = _rollup("api_requests_hourly", "hour")
api_requests_daily = _rollup("api_requests_daily", "day")
