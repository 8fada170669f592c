"""Economist ingestion and query benchmark on PostgreSQL (never part of the test suite).

1. generates BENCH_INGEST_ROWS FOCUS rows (CSV, one billing month) with a fast generator;
2. the machine's ceiling in the same run: `psql -c "\\copy bare FROM file CSV HEADER"` of that file into a bare
   typed table with no index;
3. ingests the same file through the real path (LedgerIngestor on PostgreSQL: the pyarrow fast path, CSV
   chunks streamed into one COPY -> rollup -> slice swap, one transaction) in a child process, and a file a
   tenth of its size, reporting rows/s, the child's CPU seconds and peak RSS for both (memory should not
   grow with the file); steps 2 and 3 alternate BENCH_REPEAT (3) times on this shared machine, the big load
   into an emptied month each time, and the medians are compared (each pair's ratio is printed too);
4. tops the ledger up to BENCH_ROWS rows (other months, loaded with COPY plus the same rollup step) and
   times the cost engine: p50 of a 30-day by-service query (rollup) and a 30-day by-tag query (raw rows).

    .venv/bin/python bench/economist_ingest.py
    BENCH_INGEST_ROWS=200000 BENCH_ROWS=1000000 .venv/bin/python bench/economist_ingest.py

BENCH_DATABASE_URL (postgresql+asyncpg://...) uses an existing, disposable database; by default a
throw-away database is created with psql on postgres@127.0.0.1:5432 and dropped at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INGEST_ROWS = int(os.environ.get("BENCH_INGEST_ROWS", "1000000"))
TOTAL_ROWS = int(os.environ.get("BENCH_ROWS", "5000000"))
QUERY_RUNS = int(os.environ.get("BENCH_QUERY_RUNS", "20"))
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "3")))  # ceiling + ingest pairs; medians are reported
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

HEADER = [
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "BillingAccountId", "BillingAccountName",
    "SubAccountId", "SubAccountName", "ProviderName", "PublisherName", "InvoiceIssuerName", "ChargeCategory",
    "ChargeClass", "ChargeDescription", "ChargeFrequency", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ConsumedQuantity", "ConsumedUnit", "ServiceCategory", "ServiceName", "RegionId", "RegionName",
    "AvailabilityZone", "ResourceId", "ResourceName", "ResourceType", "SkuId", "SkuPriceId", "ListUnitPrice",
    "ContractedUnitPrice", "Tags",
]  # fmt: skip
BARE_TYPES = {
    "BilledCost": "numeric", "EffectiveCost": "numeric", "ListCost": "numeric", "ContractedCost": "numeric",
    "PricingQuantity": "numeric", "ConsumedQuantity": "numeric", "ListUnitPrice": "numeric",
    "ContractedUnitPrice": "numeric", "BillingPeriodStart": "timestamptz", "BillingPeriodEnd": "timestamptz",
    "ChargePeriodStart": "timestamptz", "ChargePeriodEnd": "timestamptz", "Tags": "jsonb",
}  # fmt: skip
SERVICES = [
    ("AmazonEC2", "Compute"), ("AmazonS3", "Storage"), ("AmazonRDS", "Databases"), ("AWSLambda", "Compute"),
    ("AmazonDynamoDB", "Databases"), ("AmazonCloudFront", "Networking"), ("AmazonEKS", "Compute"),
    ("AmazonVPC", "Networking"), ("AmazonSQS", "Integration"), ("AmazonSNS", "Integration"),
    ("AmazonCloudWatch", "Management and Governance"), ("AmazonElastiCache", "Databases"),
    ("AmazonRedshift", "Analytics"), ("AWSGlue", "Analytics"), ("AmazonSageMaker", "AI and Machine Learning"),
]  # fmt: skip
REGIONS = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "sa-east-1",
]
ACCOUNTS = [f"{200000000000 + i}" for i in range(20)]
TEAMS = ["payments", "search", "platform", "data", "ml", "web", "mobile", "infra"]
ENVS = ["prod", "staging", "dev"]


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def tag_sets() -> list[dict[str, str]]:
    return [
        {"team": t, "Environment": e, "cost-center": f"cc-{i}"} for i, t in enumerate(TEAMS) for e in ENVS
    ]


class Charge(NamedTuple):
    day: date
    bp: date  # billing period start
    bpe: date  # billing period end
    hour: int
    service: str
    category: str
    region: str
    account: str
    quantity: float
    price: float
    kind: str
    resource_id: str
    sku: int
    tag: int  # index into tag_sets()


def charges(rows: int, first_day: date, days: int, seed: int) -> Iterator[Charge]:
    """`rows` random hourly charges spread evenly over `days` days (tuples, cheap to format)."""
    rng = random.Random(seed)
    per_day = max(1, rows // days)
    written, day_index = 0, 0
    tags = len(tag_sets())
    while written < rows:
        day = first_day + timedelta(days=min(day_index, days - 1))
        bp, bpe = month_start(day), next_month(day)
        for _ in range(min(per_day, rows - written)):
            service, category = SERVICES[rng.randrange(len(SERVICES))]
            region = REGIONS[rng.randrange(len(REGIONS))]
            account = ACCOUNTS[rng.randrange(len(ACCOUNTS))]
            quantity = rng.randrange(1, 5000) / 100
            price = rng.randrange(1, 20000) / 100000
            kind = "Purchase" if rng.random() < 0.02 else "Usage"
            resource_id = f"arn:aws:{service.lower()}:{region}:{account}:res/{rng.randrange(20000)}"
            yield Charge(day, bp, bpe, rng.randrange(24), service, category, region, account, quantity, price,
                         kind, resource_id, rng.randrange(500), rng.randrange(tags))  # fmt: skip
            written += 1
        day_index += 1


def generate_focus(path: Path, rows: int, first_day: date, days: int, seed: int) -> None:
    """A FOCUS CSV (the format ingestion reads)."""
    tags = [json.dumps(t).replace('"', '""') for t in tag_sets()]
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(",".join(HEADER) + "\n")
        for c in charges(rows, first_day, days, seed):
            billed = c.quantity * c.price
            out.write(
                f"{billed:.10f},{billed * 0.93:.10f},{billed * 1.2:.10f},{billed:.10f},USD,"
                f"{c.bp}T00:00:00Z,{c.bpe}T00:00:00Z,{c.day}T{c.hour:02d}:00:00Z,{c.day}T{c.hour:02d}:59:59Z,"
                f"100000000001,ExampleCorp,{c.account},acct-{c.account[-2:]},AWS,AWS,AWS,{c.kind},,"
                f"{c.service} usage,Usage-Based,Standard,{c.quantity},Hours,{c.quantity},Hours,{c.category},"
                f"{c.service},{c.region},{c.region},{c.region}a,{c.resource_id},,Instance,SKU{c.sku},,"
                f'{c.price:.6f},{c.price:.6f},"{tags[c.tag]}"\n'
            )


LEDGER_CSV_COLUMNS = (
    "billed_cost, effective_cost, list_cost, contracted_cost, billing_currency, billing_period_start, "
    "billing_period_end, charge_period_start, charge_period_end, billing_account_id, sub_account_id, "
    "provider_name, charge_category, service_category, service_name, region_id, resource_id, tags, "
    "tags_normalized, source, ingestion_id"
)


def generate_ledger(path: Path, rows: int, first_day: date, days: int, seed: int, ingestion_id: int) -> None:
    """The same charges already in ledger form, for a bulk top-up with COPY."""
    from economist.ledger.tags import DEFAULT_TAG_NORMALIZER

    raw = [json.dumps(t).replace('"', '""') for t in tag_sets()]
    folded = [json.dumps(DEFAULT_TAG_NORMALIZER.normalize(t)).replace('"', '""') for t in tag_sets()]
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        for c in charges(rows, first_day, days, seed):
            billed = c.quantity * c.price
            out.write(
                f"{billed:.10f},{billed * 0.93:.10f},{billed * 1.2:.10f},{billed:.10f},USD,"
                f"{c.bp}T00:00:00Z,{c.bpe}T00:00:00Z,{c.day}T{c.hour:02d}:00:00Z,{c.day}T{c.hour:02d}:59:59Z,"
                f"100000000001,{c.account},AWS,{c.kind},{c.category},{c.service},{c.region},{c.resource_id},"
                f'"{raw[c.tag]}","{folded[c.tag]}",bench,{ingestion_id}\n'
            )


def psql_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def psql(url: str, *args: str) -> str:
    return subprocess.run(
        ["psql", psql_url(url), "-v", "ON_ERROR_STOP=1", "-qAt", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def copy_ceiling(url: str, path: Path) -> float:
    """Seconds for psql's \\copy of the file into a bare typed table without indexes."""
    columns = ", ".join(f'"{name}" {BARE_TYPES.get(name, "text")}' for name in HEADER)
    psql(url, "-c", "DROP TABLE IF EXISTS bench_bare", "-c", f"CREATE TABLE bench_bare ({columns})")
    started = time.perf_counter()
    psql(url, "-c", f"\\copy bench_bare FROM '{path}' CSV HEADER")
    seconds = time.perf_counter() - started
    psql(url, "-c", "DROP TABLE bench_bare")
    return seconds


# -- child processes ---------------------------------------------------------------------------------------


async def child_ingest(path: str, url: str) -> dict:
    from economist.ingestion.runner import LedgerIngestor
    from economist.ingestion.service import command_ingestion
    from economist.settings import EconomistSettings
    from economist.sources import open_focus_source
    from oco.db import Database
    from oco.kv import MemoryKV

    settings = EconomistSettings(_env_file=None, oco_database_url=url)
    database = Database(url, pool_size=2)
    try:
        ingestor = LedgerIngestor(
            database, normalizer=settings.tag_normalizer, batch_size=settings.oco_economist_batch_size
        )
        async with command_ingestion(
            database,
            settings,
            MemoryKV(),
            source="focus",
            period=None,
            options={"bench": True},
            filename=path,
            created_by="bench",
        ) as ingestion_id:
            started, cpu = time.perf_counter(), cpu_seconds()
            record = await ingestor.run(
                ingestion_id, open_focus_source(path), source_kind="focus", window=None
            )
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    finally:
        await database.dispose()
    return {
        "rows": record["row_count"],
        "seconds": seconds,
        "cpu_s": cpu,
        "path": "fast" if ingestor.stats["fast"] else "strict",
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_parse(path: str) -> dict:
    from economist.sources import open_focus_source

    started, rows = time.perf_counter(), 0
    for batch in open_focus_source(path).batches(5000):
        rows += len(batch.rows)
    return {"rows": rows, "seconds": time.perf_counter() - started}


def run_child(*args: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


# -- top-up and queries --------------------------------------------------------------------------------------


async def top_up(url: str, rows: int, first_day: date, days: int, folder: Path) -> None:
    """Add `rows` ledger rows for earlier months with psql COPY, as one recorded ingestion with its rollup."""
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
        path = folder / "topup.csv"
        generate_ledger(path, rows, first_day, days, seed=17, ingestion_id=ingestion_id)
        psql(url, "-c", f"\\copy cloud_costs ({LEDGER_CSV_COLUMNS}) FROM '{path}' CSV")
        path.unlink()
        async with database.engine.begin() as conn:
            await prepare_connection(conn)
            await repo.build_rollup(conn, ingestion_id)
        psql(url, "-c", "VACUUM ANALYZE cloud_costs", "-c", "VACUUM ANALYZE cloud_costs_daily")
    finally:
        await database.dispose()


async def time_queries(url: str, first_day: date, days: int) -> dict:
    from economist.costs.params import CostQuery, Dimension
    from economist.costs.service import CostService
    from oco.db import Database

    database = Database(url, pool_size=2)
    service = CostService(database)
    end = first_day + timedelta(days=days)
    window = {"start": end - timedelta(days=30), "end": end, "limit": 100}
    queries = {
        "30-day by service (rollup)": CostQuery(**window, group_by=(Dimension("service"),)),
        "30-day by service, daily (rollup)": CostQuery(
            **window, granularity="day", group_by=(Dimension("service"),)
        ),
        "30-day by tag:team (raw rows)": CostQuery(**window, group_by=(Dimension("tag", "team"),)),
    }
    results = {}
    try:
        for name, query in queries.items():
            await service.query(query)  # warm
            samples = []
            for _ in range(QUERY_RUNS):
                started = time.perf_counter()
                await service.query(query)
                samples.append((time.perf_counter() - started) * 1000)
            results[name] = (statistics.median(samples), max(samples))
    finally:
        await database.dispose()
    return results


# -- main ------------------------------------------------------------------------------------------------------


def main() -> None:
    from oco import migrations

    own_database = "BENCH_DATABASE_URL" not in os.environ
    name = f"oco_bench_{uuid.uuid4().hex[:8]}"
    url = os.environ.get("BENCH_DATABASE_URL") or f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    if own_database:
        psql(ADMIN_URL, "-c", f"CREATE DATABASE {name}")
    try:
        migrations.upgrade(url)
        with tempfile.TemporaryDirectory(prefix="oco-bench-") as tmp:
            folder = Path(tmp)
            big, small = folder / "focus-big.csv", folder / "focus-small.csv"
            started = time.perf_counter()
            generate_focus(big, INGEST_ROWS, date(2026, 6, 1), 30, seed=1)
            generate_focus(small, max(1, INGEST_ROWS // 10), date(2026, 7, 1), 30, seed=2)
            print(
                f"generated {INGEST_ROWS:,} + {INGEST_ROWS // 10:,} rows in {time.perf_counter() - started:.1f} s ({big.stat().st_size / 1e6:.0f} MB)",
                file=sys.stderr,
            )

            parse = run_child("--parse", str(big)) if os.environ.get("BENCH_PARSE_ONLY", "1") == "1" else None
            small_run = run_child("--ingest", str(small), url)
            ceilings, big_runs = [], []
            for attempt in range(REPEAT):  # alternate, on a shared machine; each ingest into an empty month
                if attempt:
                    psql(url, "-c", "DELETE FROM cloud_costs WHERE billing_period_start >= '2026-06-01' AND billing_period_start < '2026-07-01'",
                         "-c", "DELETE FROM cloud_costs_daily WHERE billing_period_start >= '2026-06-01' AND billing_period_start < '2026-07-01'",
                         "-c", "VACUUM cloud_costs", "-c", "VACUUM cloud_costs_daily")  # fmt: skip
                ceilings.append(copy_ceiling(url, big))
                big_runs.append(run_child("--ingest", str(big), url))
                print(f"psql \\copy: {ceilings[-1]:.1f} s; ingested: {big_runs[-1]}", file=sys.stderr)

            extra = max(0, TOTAL_ROWS - INGEST_ROWS - INGEST_ROWS // 10)
            asyncio.run(top_up(url, extra, date(2026, 1, 1), 151, folder))
            # the 30 days before June: the densest part of the ledger when it was topped up
            window_start = date(2026, 5, 2) if extra else date(2026, 6, 1)
            timings = asyncio.run(time_queries(url, window_start, 30))

        ceiling_rates = [INGEST_ROWS / c for c in ceilings]
        rates = [r["rows"] / r["seconds"] for r in big_runs]
        ratios = sorted(r / c for r, c in zip(rates, ceiling_rates, strict=True))
        ceiling_rate, rate = statistics.median(ceiling_rates), statistics.median(rates)
        big_run = big_runs[rates.index(sorted(rates)[len(rates) // 2])]  # the median run (odd REPEAT)
        big_run["rss_mb"] = max(r["rss_mb"] for r in big_runs)
        total = INGEST_ROWS + INGEST_ROWS // 10 + extra
        lines = [("psql \\copy into a bare table (ceiling)", f"{ceiling_rate:>12,.0f} rows/s")]
        if parse:
            lines.append(
                (
                    "FOCUS parse only (FocusSource, no DB)",
                    f"{parse['rows'] / parse['seconds']:>12,.0f} rows/s",
                )
            )
        lines += [
            (
                f"ingest {INGEST_ROWS:,} rows (end to end)",
                f"{rate:>12,.0f} rows/s  ({rate / ceiling_rate:.0%} of ceiling, {big_run['path']} path)",
            ),
            (
                f"ingest / ceiling, each of {REPEAT} alternating runs",
                f"{'':>12s} {', '.join(f'{r:.0%}' for r in ratios)}",
            ),
            (
                f"ingest {INGEST_ROWS:,} rows: wall / client CPU",
                f"{big_run['seconds']:>13.1f} s / {big_run['cpu_s']:.1f} s (PostgreSQL's CPU not included)",
            ),
            (f"peak RSS, ingest {INGEST_ROWS:,} rows", f"{big_run['rss_mb']:>15,.0f} MB"),
            (f"peak RSS, ingest {INGEST_ROWS // 10:,} rows", f"{small_run['rss_mb']:>15,.0f} MB"),
        ]
        lines += [
            (f"{q}, {total:,} rows", f"{p50:>12.1f} ms p50 (max {worst:.1f})")
            for q, (p50, worst) in timings.items()
        ]
        print()
        for label, value in lines:
            print(f"{label:48s} {value}")
    finally:
        if own_database:
            subprocess.run(
                ["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ingest":
        print(json.dumps(asyncio.run(child_ingest(sys.argv[2], sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--parse":
        print(json.dumps(child_parse(sys.argv[2])))
    else:
        main()
