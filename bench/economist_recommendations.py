"""Recommendations refresh benchmark on PostgreSQL (never part of the test suite).

1. fills a throw-away database with BENCH_ROWS (5,000,000) hourly ledger rows over 30 days, generated inside
   PostgreSQL (INSERT ... SELECT generate_series) as one recorded ingestion with its daily rollup: 20,000
   resources (compute with prod/dev/staging tags, some under a savings plan with unused hours; volumes
   with and without I/O; idle and in-use IPs; load balancers with and without LCUs; databases with and
   without I/O; buckets with and without requests) in 5 billing accounts, and cpu utilization for 2,000
   instances;
2. the same-run floor: one full scan of the ledger, `SELECT count(*), sum(billed_cost) FROM cloud_costs`
   (median of BENCH_SCANS = 3);
3. the refresh (RecommendationService.refresh(), every rule, default window) in a child process, twice:
   the first creates the recommendations, the second finds them all again (updates). Reported: wall time,
   the child's peak RSS (and its RSS before the refresh, after imports), and the ratio to the scan.
Targets: refresh under 30 s and peak RSS under 300 MB at 5M rows.

    .venv/bin/python bench/economist_recommendations.py
    BENCH_ROWS=1000000 .venv/bin/python bench/economist_recommendations.py

BENCH_DATABASE_URL (postgresql+asyncpg://...) uses an existing, disposable database; by default a
throw-away database is created with psql on postgres@127.0.0.1:5432 and dropped at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROWS = int(os.environ.get("BENCH_ROWS", "5000000"))
SCANS = int(os.environ.get("BENCH_SCANS", "3"))
RESOURCES = 20000
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# One row per g in 1..ROWS: resource r = g % 20000, hour of June 2026 = (g * 7) % 720, kind = r % 20.
GENERATE = """
INSERT INTO cloud_costs (
  billed_cost, effective_cost, billing_currency, billing_period_start, billing_period_end,
  charge_period_start, charge_period_end, billing_account_id, sub_account_id, provider_name, charge_category,
  pricing_category, service_category, service_name, region_id, resource_id, resource_type, sku_id,
  charge_description, consumed_quantity, consumed_unit, commitment_discount_id, commitment_discount_status,
  tags, tags_normalized, source, ingestion_id)
SELECT cost, cost, 'USD', '2026-06-01', '2026-07-01', at, at + interval '1 hour', '10000000000' || (r % 5),
  '2000000000' || (r % 20), 'AWS', 'Usage',
  CASE WHEN kind = 19 THEN 'Committed' ELSE 'Standard' END,
  CASE WHEN kind < 10 OR kind = 19 THEN 'Compute' WHEN kind < 13 OR kind IN (16, 17) THEN 'Storage'
       WHEN kind IN (13, 14, 18) THEN 'Networking' ELSE 'Databases' END,
  CASE WHEN kind < 10 OR kind = 19 THEN 'Amazon Elastic Compute Cloud' WHEN kind < 13 THEN 'Amazon Elastic Block Store'
       WHEN kind = 13 THEN 'Amazon Virtual Private Cloud' WHEN kind = 14 THEN 'Elastic Load Balancing'
       WHEN kind = 15 THEN 'Amazon Relational Database Service' WHEN kind < 18 THEN 'Amazon Simple Storage Service'
       ELSE 'AWS Data Transfer' END,
  'us-east-1', 'res-' || r,
  CASE WHEN kind < 10 OR kind = 19 THEN 'Instance' WHEN kind < 13 THEN 'Volume' WHEN kind = 13 THEN 'IP Address'
       WHEN kind = 14 THEN 'LoadBalancer' WHEN kind = 15 THEN 'DBInstance' WHEN kind < 18 THEN 'Bucket'
       ELSE 'Transfer' END,
  CASE WHEN kind < 13 AND kind >= 10 AND r % 3 = 0 AND g % 5 = 0 THEN 'EBS:VolumeIOUsage'
       WHEN kind = 13 AND (r / 20) % 2 = 0 THEN 'PublicIPv4:IdleAddress' WHEN kind = 13 THEN 'PublicIPv4:InUseAddress'
       WHEN kind = 14 AND (r / 20) % 2 = 0 AND g % 4 = 0 THEN 'LCUUsage' WHEN kind = 14 THEN 'LoadBalancerUsage'
       WHEN kind = 15 AND (r / 20) % 2 = 0 AND g % 4 = 0 THEN 'RDS:StorageIOUsage'
       WHEN kind IN (16, 17) AND (r / 20) % 2 = 0 AND g % 4 = 0 THEN 'Requests-Tier1'
       WHEN kind IN (16, 17) THEN 'TimedStorage-ByteHrs' ELSE 'SKU' || (r % 500) END,
  CASE WHEN kind < 10 OR kind = 19 THEN '$0.192 per On Demand Linux m5.xlarge Instance Hour'
       WHEN kind < 13 THEN '$0.08 per GB-month of gp3 provisioned storage' ELSE NULL END,
  (random() * 100)::numeric(38, 6),
  CASE WHEN kind < 10 OR kind IN (13, 14, 15, 19) THEN 'Hrs' WHEN kind IN (16, 17) THEN 'GB-Mo' ELSE 'GB' END,
  CASE WHEN kind = 19 THEN 'sp-' || (r % 5) ELSE NULL END,
  CASE WHEN kind = 19 AND (g / 20000) % 10 = 0 THEN 'Unused' WHEN kind = 19 THEN 'Used' ELSE NULL END,
  jsonb_build_object('environment', env, 'team', 'team-' || (r % 8)),
  jsonb_build_object('environment', env, 'team', 'team-' || (r % 8)),
  'bench', :ingestion_id
FROM (
  SELECT g, g % 20000 AS r, (g % 20000) % 20 AS kind,
         timestamptz '2026-06-01 00:00:00+00' + ((g * 7) % 720) * interval '1 hour' AS at,
         (random() * 0.5)::numeric(30, 12) AS cost,
         (ARRAY['prod', 'dev', 'staging'])[1 + (g % 20000) % 3] AS env
  FROM generate_series(1, :rows) AS g
) AS s
"""

UTILIZATION = """
INSERT INTO resource_utilization (resource_id, metric, size, sample_count, p50, p95, max, recorded_at)
SELECT 'res-' || r, 'cpu', NULL, 1000, (r % 40), (r % 40) + 5, (r % 40) + 20, now()
FROM generate_series(0, 19999) AS r WHERE r % 20 < 10 AND r % 100 < 10
"""


def psql(url: str, *args: str) -> str:
    return subprocess.run(
        [
            "psql",
            url.replace("postgresql+asyncpg://", "postgresql://"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


async def fill(url: str) -> None:
    from economist.ingestion import repository as repo
    from economist.ledger.tables import prepare_connection
    from oco.db import Database

    database = Database(url, pool_size=2)
    try:
        async with database.engine.begin() as conn:
            ingestion_id = await repo.create_ingestion(
                conn,
                source="bench",
                status="succeeded",
                period=None,
                options={},
                filename=None,
                created_by="bench",
            )
        sql = GENERATE.replace(":ingestion_id", str(ingestion_id)).replace(":rows", str(ROWS))
        psql(url, "-c", sql, "-c", UTILIZATION)
        async with database.engine.begin() as conn:
            await prepare_connection(conn)
            await repo.build_rollup(conn, ingestion_id)
        psql(url, "-c", "VACUUM ANALYZE cloud_costs", "-c", "VACUUM ANALYZE cloud_costs_daily")
    finally:
        await database.dispose()


async def full_scan(url: str) -> float:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        started = time.perf_counter()
        await conn.fetchrow("SELECT count(*), sum(billed_cost) FROM cloud_costs")
        return time.perf_counter() - started
    finally:
        await conn.close()


async def child_refresh(url: str) -> dict:
    from economist.recommendations.service import RecommendationService
    from economist.settings import EconomistSettings
    from oco.db import Database
    from oco.kv import MemoryKV

    settings = EconomistSettings(_env_file=None, oco_database_url=url)
    database = Database(url, pool_size=2)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        service = RecommendationService.from_settings(database, MemoryKV(), settings)
        started = time.perf_counter()
        result = await service.refresh()
        seconds = time.perf_counter() - started
    finally:
        await database.dispose()
    return {
        "seconds": seconds,
        "rss_before_mb": before,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "created": result.created,
        "updated": result.updated,
        "closed": result.closed,
        "found": result.found,
    }


def run_child(url: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--refresh", url], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    from oco import migrations

    own_database = "BENCH_DATABASE_URL" not in os.environ
    name = f"oco_bench_{uuid.uuid4().hex[:8]}"
    url = os.environ.get("BENCH_DATABASE_URL") or f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    if own_database:
        psql(ADMIN_URL, "-c", f"CREATE DATABASE {name}")
    try:
        migrations.upgrade(url)
        started = time.perf_counter()
        asyncio.run(fill(url))
        print(f"generated {ROWS:,} ledger rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        asyncio.run(full_scan(url))  # warm the cache: both measurements read a warm table
        scan = statistics.median(asyncio.run(full_scan(url)) for _ in range(SCANS))
        first, second = run_child(url), run_child(url)
        print(f"first refresh: {first}\nsecond refresh: {second}", file=sys.stderr)
        rows = [
            ("full scan: count(*), sum(billed_cost) (floor)", scan, "", ""),
            (f"refresh, first (created {first['created']:,})", first["seconds"], first["rss_mb"], first["rss_before_mb"]),
            (f"refresh, again (updated {second['updated']:,})", second["seconds"], second["rss_mb"], second["rss_before_mb"]),
        ]  # fmt: skip
        print(f"\n{ROWS:,} ledger rows, PostgreSQL; targets: refresh < 30 s, peak RSS < 300 MB\n")
        print(f"{'':52s} {'seconds':>9s} {'x scan':>8s} {'peak RSS':>10s} {'RSS before':>11s}")
        for label, seconds, rss, before in rows:
            rss_text = f"{rss:,.0f} MB" if rss != "" else ""
            before_text = f"{before:,.0f} MB" if before != "" else ""
            print(f"{label:52s} {seconds:9.2f} {seconds / scan:8.1f} {rss_text:>10s} {before_text:>11s}")
        print(f"\nfound by type: {json.dumps(first['found'], sort_keys=True)}")
    finally:
        if own_database:
            subprocess.run(
                ["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--refresh":
        print(json.dumps(asyncio.run(child_refresh(sys.argv[2]))))
    else:
        main()
