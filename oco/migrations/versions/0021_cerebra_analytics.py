"""Cerebra analytics: the request log summed per hour (`api_requests_hourly`, the FOCUS export's grain) and
per day (`api_requests_daily`, what spend over weeks reads), so queries read rollup rows instead of
millions of calls; TimescaleDB compression of the log.

PostgreSQL without TimescaleDB: both are tables kept current by one statement-level trigger on
`api_requests` (its transition table, so a batch insert or COPY adds one upsert per group and rollup),
backfilled from the rows already logged. Missing dimensions are stored as '' (0 for key_id) so the
unique index works on every PostgreSQL version; readers turn them back into NULL.
With TimescaleDB: real-time continuous aggregates of the same names and columns (hypertables refuse
transition tables), refreshed hourly, and compression of log chunks older than 7 days. Retention
(OCO_CEREBRA_LOG_RETENTION_DAYS) is applied by the running service, not here.
SQLite (the embedded default): nothing; analytics read the log itself.

Revision ID: 0021_cerebra_analytics
Revises: 0022_cerebra_routes_prices
"""

from alembic import op

revision = "0021_cerebra_analytics"
down_revision = "0022_cerebra_routes_prices"
branch_labels = None
depends_on = None

DIMENSIONS = "key_id, team_id, org_id, agent_id, alias, provider, model"
MEASURES = (
    "requests, errors, prompt_tokens, completion_tokens, cache_read_tokens, cache_creation_tokens, "
    "cost_usd, unpriced_requests, cache_hits, saved_cost_usd"
)
#: rollup table -> (its time column, the date_trunc unit)
ROLLUPS = {"api_requests_hourly": ("hour", "hour"), "api_requests_daily": ("day", "day")}


def _summed(source: str, unit: str) -> str:
    """SELECT of the log rows of `source` summed per UTC hour or day and dimensions, sentinels for missing
    dimensions, in index order (so concurrent writers lock rollup rows in one order)."""
    return f"""
    SELECT date_trunc('{unit}', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           coalesce(key_id, 0), coalesce(team_id, ''), coalesce(org_id, ''), coalesce(agent_id, ''),
           coalesce(alias, ''), coalesce(provider, ''), coalesce(model, ''),
           count(*), sum(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END),
           sum(prompt_tokens), sum(completion_tokens), sum(cache_read_tokens), sum(cache_creation_tokens),
           sum(cost_usd), sum(CASE WHEN unpriced THEN 1 ELSE 0 END), sum(CASE WHEN cache_hit THEN 1 ELSE 0 END),
           sum(saved_cost_usd)
    FROM {source}
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"""


def _table(name: str, time_column: str) -> str:
    return f"""
CREATE TABLE {name} (
    {time_column} timestamptz NOT NULL,
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
CREATE UNIQUE INDEX ux_{name} ON {name} ({time_column}, {DIMENSIONS});"""


def _upsert(name: str, time_column: str, unit: str, source: str) -> str:
    keys = f"{time_column}, {DIMENSIONS}"
    return f"""
  INSERT INTO {name} AS h ({keys}, {MEASURES}){_summed(source, unit)}
  ON CONFLICT ({keys}) DO UPDATE SET
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
                          ELSE h.saved_cost_usd + coalesce(EXCLUDED.saved_cost_usd, 0) END;"""


ROLLUP_TABLES = (
    "".join(_table(name, column) for name, (column, _unit) in ROLLUPS.items())
    + """
CREATE FUNCTION api_requests_rollup_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN"""
    + "".join(_upsert(name, column, unit, "new_rows") for name, (column, unit) in ROLLUPS.items())
    + """
  RETURN NULL;
END
$fn$;
CREATE TRIGGER api_requests_rollup_insert AFTER INSERT ON api_requests
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION api_requests_rollup_add();"""
    + "".join(_upsert(name, column, unit, "api_requests") for name, (column, unit) in ROLLUPS.items())
)

_CAGG_MEASURES = """count(*) AS requests, sum(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END) AS errors,
             sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,
             sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens,
             sum(cost_usd) AS cost_usd, sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS unpriced_requests,
             sum(CASE WHEN cache_hit THEN 1 ELSE 0 END) AS cache_hits, sum(saved_cost_usd) AS saved_cost_usd"""


def _cagg(name: str, column: str, interval: str) -> str:
    return f"""
    EXECUTE $view$
      CREATE MATERIALIZED VIEW {name}
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '{interval}', created_at) AS {column},
             key_id, team_id, org_id, agent_id, alias, provider, model,
             {_CAGG_MEASURES}
      FROM api_requests
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
      WITH NO DATA
    $view$;
    PERFORM add_continuous_aggregate_policy('{name}',
      start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
      schedule_interval => INTERVAL '1 hour');"""


# Runs only where the extension is installed, both online and in the rendered init.sql.
UPGRADE = f"""
DO $do$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN{_cagg("api_requests_hourly", "hour", "1 hour")}{_cagg("api_requests_daily", "day", "1 day")}
    ALTER TABLE api_requests SET (timescaledb.compress, timescaledb.compress_orderby = 'created_at DESC',
                                  timescaledb.compress_segmentby = 'key_id');
    PERFORM add_compression_policy('api_requests', INTERVAL '7 days');
  ELSE
    EXECUTE $rollup${ROLLUP_TABLES}$rollup$;
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
    DROP MATERIALIZED VIEW IF EXISTS api_requests_daily;
    DROP MATERIALIZED VIEW IF EXISTS api_requests_hourly;
  ELSE
    DROP TRIGGER IF EXISTS api_requests_rollup_insert ON api_requests;
    DROP FUNCTION IF EXISTS api_requests_rollup_add();
    DROP TABLE IF EXISTS api_requests_daily;
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
