"""Cerebra analytics: the request log summed per hour (`api_requests_hourly`) so spend queries read a few
thousand rollup rows instead of millions of calls; TimescaleDB compression of the log.

PostgreSQL without TimescaleDB: `api_requests_hourly` is a table kept current by a statement-level
trigger on `api_requests` (its transition table, so a batch insert or COPY adds one upsert per group),
backfilled from the rows already logged. Missing dimensions are stored as '' (0 for key_id) so the
unique index works on every PostgreSQL version; readers turn them back into NULL.
With TimescaleDB: a real-time continuous aggregate of the same name and columns (hypertables refuse
transition tables), refreshed hourly, and compression of log chunks older than 7 days. Retention
(OCO_CEREBRA_LOG_RETENTION_DAYS) is applied by the running service, not here.
SQLite (the embedded default): nothing; analytics read the log itself.

Revision ID: 0021_cerebra_analytics
Revises: 0019_cerebra_log_columns
"""

from alembic import op

revision = "0021_cerebra_analytics"
down_revision = "0019_cerebra_log_columns"
branch_labels = None
depends_on = None

DIMENSIONS = "hour, key_id, team_id, org_id, agent_id, alias, provider, model"
MEASURES = (
    "requests, errors, prompt_tokens, completion_tokens, cache_read_tokens, cache_creation_tokens, "
    "cost_usd, unpriced_requests, cache_hits, saved_cost_usd"
)


def _summed(source: str) -> str:
    """SELECT of the log rows of `source` summed per hour and dimensions, sentinels for missing ones."""
    return f"""
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           coalesce(key_id, 0), coalesce(team_id, ''), coalesce(org_id, ''), coalesce(agent_id, ''),
           coalesce(alias, ''), coalesce(provider, ''), coalesce(model, ''),
           count(*), sum(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END),
           sum(prompt_tokens), sum(completion_tokens), sum(cache_read_tokens), sum(cache_creation_tokens),
           sum(cost_usd), sum(CASE WHEN unpriced THEN 1 ELSE 0 END), sum(CASE WHEN cache_hit THEN 1 ELSE 0 END),
           sum(saved_cost_usd)
    FROM {source}
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"""


ROLLUP_TABLE = f"""
CREATE TABLE api_requests_hourly (
    hour timestamptz NOT NULL,
    key_id integer NOT NULL DEFAULT 0,
    team_id varchar(200) NOT NULL DEFAULT '',
    org_id varchar(200) NOT NULL DEFAULT '',
    agent_id varchar(200) NOT NULL DEFAULT '',
    alias varchar(200) NOT NULL DEFAULT '',
    provider varchar(20) NOT NULL DEFAULT '',
    model varchar(200) NOT NULL DEFAULT '',
    requests bigint NOT NULL,
    errors bigint NOT NULL,
    prompt_tokens bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    cache_creation_tokens bigint NOT NULL,
    cost_usd numeric(24, 6),
    unpriced_requests bigint NOT NULL,
    cache_hits bigint NOT NULL,
    saved_cost_usd numeric(24, 6)
);
CREATE UNIQUE INDEX ux_api_requests_hourly ON api_requests_hourly ({DIMENSIONS});
CREATE FUNCTION api_requests_hourly_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO api_requests_hourly AS h ({DIMENSIONS}, {MEASURES}){_summed("new_rows")}
  ON CONFLICT ({DIMENSIONS}) DO UPDATE SET
    requests = h.requests + EXCLUDED.requests,
    errors = h.errors + EXCLUDED.errors,
    prompt_tokens = h.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = h.completion_tokens + EXCLUDED.completion_tokens,
    cache_read_tokens = h.cache_read_tokens + EXCLUDED.cache_read_tokens,
    cache_creation_tokens = h.cache_creation_tokens + EXCLUDED.cache_creation_tokens,
    cost_usd = CASE WHEN h.cost_usd IS NULL THEN EXCLUDED.cost_usd
                    ELSE h.cost_usd + coalesce(EXCLUDED.cost_usd, 0) END,
    unpriced_requests = h.unpriced_requests + EXCLUDED.unpriced_requests,
    cache_hits = h.cache_hits + EXCLUDED.cache_hits,
    saved_cost_usd = CASE WHEN h.saved_cost_usd IS NULL THEN EXCLUDED.saved_cost_usd
                          ELSE h.saved_cost_usd + coalesce(EXCLUDED.saved_cost_usd, 0) END;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER api_requests_hourly_insert AFTER INSERT ON api_requests
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION api_requests_hourly_add();
INSERT INTO api_requests_hourly ({DIMENSIONS}, {MEASURES}){_summed("api_requests")};
"""

# Runs only where the extension is installed, both online and in the rendered init.sql.
UPGRADE = f"""
DO $do$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    EXECUTE $view$
      CREATE MATERIALIZED VIEW api_requests_hourly
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '1 hour', created_at) AS hour,
             key_id, team_id, org_id, agent_id, alias, provider, model,
             count(*) AS requests, sum(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END) AS errors,
             sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,
             sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens,
             sum(cost_usd) AS cost_usd, sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS unpriced_requests,
             sum(CASE WHEN cache_hit THEN 1 ELSE 0 END) AS cache_hits, sum(saved_cost_usd) AS saved_cost_usd
      FROM api_requests
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
      WITH NO DATA
    $view$;
    PERFORM add_continuous_aggregate_policy('api_requests_hourly',
      start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
      schedule_interval => INTERVAL '1 hour');
    ALTER TABLE api_requests SET (timescaledb.compress, timescaledb.compress_orderby = 'created_at DESC',
                                  timescaledb.compress_segmentby = 'key_id');
    PERFORM add_compression_policy('api_requests', INTERVAL '7 days');
  ELSE
    EXECUTE $rollup${ROLLUP_TABLE}$rollup$;
  END IF;
END
$do$;
"""

DOWNGRADE = """
DO $do$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    PERFORM remove_compression_policy('api_requests', if_exists => true);
    PERFORM remove_retention_policy('api_requests', if_exists => true);
    DROP MATERIALIZED VIEW IF EXISTS api_requests_hourly;
  ELSE
    DROP TRIGGER IF EXISTS api_requests_hourly_insert ON api_requests;
    DROP FUNCTION IF EXISTS api_requests_hourly_add();
    DROP TABLE IF EXISTS api_requests_hourly;
  END IF;
END
$do$;
"""


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(UPGRADE)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(DOWNGRADE)
