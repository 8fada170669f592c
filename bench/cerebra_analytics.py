"""Analytics spend query over 1M logged calls on PostgreSQL, against same-run floors.

1. load: BENCH_ROWS (1,000,000) synthetic `api_requests` rows over 30 days (50 keys in 10 teams and 3
   orgs, 6 models, agents on a third of the calls) written with COPY into a fresh database migrated to
   head; the statement trigger of migration 0021 keeps the hourly rollup as COPY runs.
2. query: the spend query of GET /api/v1/analytics/spend?group_by=model&granularity=day over the 30 days
   (AnalyticsService.grouped, the endpoint's code path, reading the rollup), BENCH_RUNS times; p50/p95.
3. floors, same run, same window: `SELECT count(*)` of the window's log rows, and the same spend query on
   the log itself (an hour-unaligned window forces the raw path: what the rollup saves).

    OCO_BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/cerebra_analytics.py
The database named by BENCH_DATABASE (oco_bench_analytics) is dropped and created on that server.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cerebra.analytics.params import Window  # noqa: E402
from cerebra.analytics.service import AnalyticsService  # noqa: E402
from oco import migrations  # noqa: E402
from oco.db import Database  # noqa: E402

SERVER = os.environ.get("OCO_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE", "oco_bench_analytics")
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "30"))
DAYS = 30
TARGET_MS = 200.0
MODELS = [
    ("openai", "gpt-4o", "premium", Decimal("0.004")),
    ("openai", "gpt-4o-mini", "chat", Decimal("0.0003")),
    ("openai", "gpt-4.1", "code", Decimal("0.003")),
    ("anthropic", "claude-sonnet-4-5", "claude", Decimal("0.005")),
    ("anthropic", "claude-haiku-4-5", "fast", Decimal("0.001")),
    ("gemini", "gemini-2.5-flash", "gemini", Decimal("0.0008")),
]
COLUMNS = [
    "request_id", "created_at", "key_id", "team_id", "agent_id", "org_id", "endpoint", "alias", "provider",
    "model", "deployment_id", "status_code", "stream", "attempts", "prompt_tokens", "completion_tokens",
    "cache_read_tokens", "cache_creation_tokens", "cost_usd", "unpriced", "latency_ms", "overhead_us",
    "ttft_ms", "error", "error_type", "cache_hit", "saved_cost_usd",
]  # fmt: skip


def pg_url(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def records(start: datetime, count: int, first: int) -> list[tuple]:
    rng = random.Random(first)
    span = DAYS * 86400
    out = []
    for n in range(first, first + count):
        provider, model, alias, unit = MODELS[rng.randrange(len(MODELS))]
        key = rng.randrange(1, 51)
        prompt, completion = rng.randrange(10, 4000), rng.randrange(1, 1200)
        failed = rng.random() < 0.02
        cost = (
            Decimal(0) if failed else (unit * (prompt + 4 * completion) / 1000).quantize(Decimal("0.000001"))
        )
        out.append(
            (
                f"b{n:015d}", start + timedelta(seconds=rng.randrange(span)), key, f"team-{key % 10}",
                f"agent-{key % 5}" if n % 3 == 0 else None, f"org-{key % 3}", "chat/completions", alias,
                provider, model, f"{alias}/0", 500 if failed else 200, n % 2 == 0, 1, prompt, completion,
                0, 0, cost, False, rng.randrange(50, 8000), rng.randrange(80, 600), None,
                "upstream" if failed else None, "upstream_error" if failed else None, False, None,
            )
        )  # fmt: skip
    return out


async def load(url: str, start: datetime) -> float:
    connection = await asyncpg.connect(plain(url))
    try:
        began = time.perf_counter()
        step = 100_000
        for offset in range(0, ROWS, step):
            batch = records(start, min(step, ROWS - offset), offset)
            await connection.copy_records_to_table("api_requests", records=batch, columns=COLUMNS)
        elapsed = time.perf_counter() - began
        await connection.execute("ANALYZE api_requests; ANALYZE api_requests_hourly")
        return elapsed
    finally:
        await connection.close()


async def timed(action, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    await action()  # warm
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        await action()
        out.append((time.perf_counter() - began) * 1000)
    return out


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def main() -> None:
    admin = await asyncpg.connect(plain(SERVER))
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    await admin.close()
    url = pg_url(SERVER, DATABASE)
    database = Database(url, pool_size=2)
    await migrations.upgrade_engine(database.engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    load_s = await load(url, start)
    service = AnalyticsService(database)
    window = Window(start, start + timedelta(days=DAYS))
    raw_window = Window(start + timedelta(seconds=1), start + timedelta(days=DAYS))  # forces the log path
    async with database.engine.connect() as conn:
        rollup_rows = await conn.scalar(sa.text("SELECT count(*) FROM api_requests_hourly"))
        daily_rows = await conn.scalar(sa.text("SELECT count(*) FROM api_requests_daily"))

    async def spend() -> None:
        await service.grouped(window, ["model"], "day", ("cost_usd", "requests"))

    async def spend_raw() -> None:
        await service.grouped(raw_window, ["model"], "day", ("cost_usd", "requests"))

    async def count() -> None:
        async with database.engine.connect() as conn:
            await conn.scalar(
                sa.text("SELECT count(*) FROM api_requests WHERE created_at >= :a AND created_at < :b"),
                {"a": window.start, "b": window.end},
            )

    results = {
        "spend (rollup)": await timed(spend, RUNS),
        "floor: count(*) of the window": await timed(count, max(RUNS // 3, 5)),
        "spend on the raw log": await timed(spend_raw, max(RUNS // 3, 5)),
    }
    rows = await service.grouped(window, ["model"], "day", ("cost_usd", "requests"))
    await database.dispose()
    print(f"rows: {ROWS:,} over {DAYS} days; COPY (with the rollup trigger) {load_s:.1f} s "
          f"({ROWS / load_s:,.0f} rows/s); rollup rows: hourly {rollup_rows:,}, daily {daily_rows:,}; "
          f"spend result rows {len(rows)}")  # fmt: skip
    print(f"{'query':34} {'p50 ms':>9} {'p95 ms':>9}")
    for name, values in results.items():
        print(f"{name:34} {p(values, 50):9.1f} {p(values, 95):9.1f}")
    floor = p(results["floor: count(*) of the window"], 50)
    rollup = p(results["spend (rollup)"], 50)
    print(f"spend p50 / count(*) floor p50 = {rollup / floor:.2f}x; target spend p50 < {TARGET_MS:.0f} ms: "
          f"{'met' if rollup < TARGET_MS else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
