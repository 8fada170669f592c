"""Synthetic request-log rows for the analytics tests: deterministic, in a window of their own (each test
gets distinct days far from "now", so rows other tests log never fall inside)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cerebra.analytics.tables import api_requests
from oco.db import Database

MODELS = [
    ("openai", "gpt-4o", "premium"),
    ("openai", "gpt-4o-mini", "chat"),
    ("anthropic", "claude-sonnet-4-5", "claude"),
]


def window_start() -> datetime:
    """A midnight starting a 4-day slot of its own (random per call: reruns and other tests miss it)."""
    return datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(0, 20_000) * 4)


def make_rows(start: datetime, count: int, seed: int, *, days: int = 2) -> list[dict[str, Any]]:
    """`count` log rows spread over `days` days from `start`: three models, four keys in two teams, costs
    with 6 decimals, a few errors, unpriced calls and cache hits."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        provider, model, alias = MODELS[i % len(MODELS)]
        key = 1_000_000 + seed * 10 + (i % 4)
        unpriced = i % 17 == 0
        hit = i % 11 == 0
        failed = i % 13 == 0
        cost = None if unpriced else Decimal(rng.randrange(0, 50_000)) / Decimal(1_000_000)
        rows.append(
            {
                "request_id": uuid.uuid4().hex,
                "created_at": start + timedelta(seconds=rng.randrange(0, max(days * 86400, 1))),
                "key_id": key,
                "team_id": f"team-{seed}-{key % 2}",
                "org_id": f"org-{seed}",
                "agent_id": None if i % 3 else f"agent-{i % 2}",
                "endpoint": "chat",
                "alias": alias,
                "provider": provider,
                "model": model,
                "deployment_id": f"{alias}/0",
                "status_code": 500 if failed else 200,
                "stream": bool(i % 2),
                "attempts": 1,
                "prompt_tokens": rng.randrange(5, 3000),
                "completion_tokens": rng.randrange(1, 800),
                "cache_read_tokens": rng.randrange(0, 5),
                "cache_creation_tokens": rng.randrange(0, 3),
                "cost_usd": Decimal(0) if failed else cost,
                "unpriced": unpriced and not failed,
                "latency_ms": rng.randrange(20, 5000),
                "overhead_us": rng.randrange(50, 900),
                "ttft_ms": rng.randrange(5, 900) if i % 2 else None,
                "error": "boom" if failed else None,
                "error_type": "upstream_error" if failed else None,
                "cache_hit": hit,
                "saved_cost_usd": Decimal("0.001234") if hit else None,
            }
        )
    return rows


async def insert(database: Database, rows: list[dict[str, Any]]) -> None:
    async with database.engine.begin() as conn:
        for chunk in range(0, len(rows), 500):
            await conn.execute(api_requests.insert(), rows[chunk : chunk + 500])
