"""Governance policy evaluation benchmark on PostgreSQL (never part of the test suite).

1. fills a throw-away ledger with BENCH_ROWS (5,000,000) rows over the 60 days ending today (bench/
   economist_ingest.py's generator, loaded with psql COPY plus the daily rollup, as one ingestion);
2. the floor in the same run: one full scan of the ledger (`SELECT count(*), sum(billed_cost) FROM cloud_costs`);
3. one policy of each type (budget_limit, tag_compliance, region_restriction, service_allowlist,
   service_denylist, max_resource_cost; 30-day windows, i.e. half the ledger for the raw-row types), then
   every enabled policy evaluated in a child process (GovernanceService.evaluate_all: the SQL aggregations
   and the violation writes), reporting its wall time, the time of each policy and the child's peak RSS.

Targets: evaluation under 30 s and under 300 MB, printed beside the full scan with their ratio.

    .venv/bin/python bench/economist_governance.py
    BENCH_ROWS=500000 .venv/bin/python bench/economist_governance.py

BENCH_DATABASE_URL (postgresql+asyncpg://...) uses an existing, disposable database; by default a
throw-away database is created with psql on postgres@127.0.0.1:5432 and dropped at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

ROWS = int(os.environ.get("BENCH_ROWS", "5000000"))
DAYS = 60
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_S, TARGET_MB = 30.0, 300.0

POLICIES = [
    {
        "type": "budget_limit",
        "params": {"amount": "1000", "period": "monthly"},
        "scope": {"service": "AmazonEC2"},
    },
    {
        "type": "tag_compliance",
        "params": {
            "required_tags": ["team", "Environment"],
            "allowed_values": {"Environment": ["prod", "staging"]},
            "min_coverage_percent": 90,
        },
    },
    {
        "type": "region_restriction",
        "params": {"allowed_regions": ["us-east-1", "us-west-2"], "min_cost": "9.6"},
    },
    {"type": "service_allowlist", "params": {"services": ["AmazonEC2", "AmazonS3", "AmazonRDS"]}},
    {"type": "service_denylist", "params": {"services": ["AmazonSageMaker", "AmazonRedshift"]}},
    {"type": "max_resource_cost", "params": {"amount": "9.7", "currency": "USD"}},
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def full_scan_s(url: str) -> tuple[float, int]:
    import sqlalchemy as sa

    from oco.db import Database

    database = Database(url, pool_size=1)
    try:
        async with database.engine.connect() as conn:
            started = time.perf_counter()
            count = (
                await conn.execute(sa.text("SELECT count(*), sum(billed_cost) FROM cloud_costs"))
            ).first()
            seconds = time.perf_counter() - started
    finally:
        await database.dispose()
    assert count is not None
    return seconds, int(count[0])


async def create_policies(url: str) -> None:
    from economist.governance.service import GovernanceService
    from economist.ledger.tags import DEFAULT_TAG_NORMALIZER
    from oco.db import Database

    database = Database(url, pool_size=1)
    try:
        service = GovernanceService(database, DEFAULT_TAG_NORMALIZER)
        for i, body in enumerate(POLICIES):
            await service.create_policy({"name": f"bench-{i}-{body['type']}", **body})
    finally:
        await database.dispose()


async def child_evaluate(url: str) -> dict:
    """In a fresh process: evaluate every policy (each timed), then all of them again as the schedule does."""
    from economist.governance import repository as repo
    from economist.governance.service import GovernanceService
    from economist.ledger.tags import DEFAULT_TAG_NORMALIZER
    from oco.db import Database

    database = Database(url, pool_size=2)
    try:
        service = GovernanceService(database, DEFAULT_TAG_NORMALIZER)
        async with database.engine.connect() as conn:
            policies = await repo.enabled_policies(conn)
        per_policy = {}
        started = time.perf_counter()
        for policy in policies:
            begun = time.perf_counter()
            result = await service.evaluate(policy["id"])
            assert result is not None
            per_policy[policy["type"]] = {
                "seconds": time.perf_counter() - begun,
                "findings": len(result["findings"]),
                "opened": len(result["opened"]),
            }
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = await service.evaluate_all()  # nothing new opens: the steady state of the schedule
        second = time.perf_counter() - started
    finally:
        await database.dispose()
    return {
        "first_s": first,
        "again_s": second,
        "again": again,
        "policies": per_policy,
        "rss_mb": peak_rss_mb(),
    }


def run_child(*args: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    from economist_ingest import psql, top_up

    from oco import migrations
    from oco.timeutil import utcnow

    own_database = "BENCH_DATABASE_URL" not in os.environ
    name = f"oco_bench_gov_{uuid.uuid4().hex[:8]}"
    url = os.environ.get("BENCH_DATABASE_URL") or f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    if own_database:
        psql(ADMIN_URL, "-c", f"CREATE DATABASE {name}")
    try:
        migrations.upgrade(url)
        first_day = utcnow().date() - timedelta(days=DAYS - 1)
        started = time.perf_counter()
        # a kept database (BENCH_DATABASE_URL) that already holds the ledger is reused: only policies are reset
        held = int(psql(url, "-c", "SELECT count(*) FROM cloud_costs").strip() or 0)
        psql(url, "-c", "DELETE FROM policy_violations", "-c", "DELETE FROM governance_policies")
        if held < ROWS:
            with tempfile.TemporaryDirectory(prefix="oco-bench-gov-") as tmp:
                asyncio.run(top_up(url, ROWS - held, first_day, DAYS, Path(tmp)))
            print(f"loaded {ROWS - held:,} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        scans = [asyncio.run(full_scan_s(url)) for _ in range(3)]
        scan_s = sorted(s for s, _ in scans)[1]  # the median of three
        rows = scans[0][1]
        asyncio.run(create_policies(url))
        child = run_child("--evaluate", url)
        print(json.dumps(child), file=sys.stderr)

        lines = [
            (f"full scan of the ledger ({rows:,} rows), median of 3", f"{scan_s:>9.2f} s   (floor)"),
            (
                f"evaluate {len(POLICIES)} policies, first run (opens violations)",
                f"{child['first_s']:>9.2f} s   {child['first_s'] / scan_s:.1f} x scan; target {TARGET_S:.0f} s "
                f"({TARGET_S / scan_s:.1f} x scan)",
            ),
            (
                f"evaluate {len(POLICIES)} policies again (schedule, nothing new)",
                f"{child['again_s']:>9.2f} s   {child['again_s'] / scan_s:.1f} x scan",
            ),
        ]
        for kind, p in child["policies"].items():
            lines.append(
                (f"  {kind}", f"{p['seconds']:>9.2f} s   {p['findings']} findings, {p['opened']} opened")
            )
        lines.append(
            ("peak RSS of the evaluating process", f"{child['rss_mb']:>9.0f} MB  target {TARGET_MB:.0f} MB")
        )
        print()
        for label, value in lines:
            print(f"{label:60s} {value}")
    finally:
        if own_database:
            subprocess.run(
                ["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False
            )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--evaluate":
        print(json.dumps(asyncio.run(child_evaluate(sys.argv[2]))))
    else:
        main()
