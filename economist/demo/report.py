"""How a demo load reads: text lines for a terminal and JSON (money as strings, 6 decimals)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from economist.demo.service import DemoLoad
from oco.money import money_str


def as_dict(result: DemoLoad) -> dict[str, Any]:
    """The result as JSON-ready values."""
    return {
        "ingestion_id": result.ingestion_id,
        "rows": result.rows,
        "replaced_rows": result.replaced_rows,
        "period": {"start": result.start.isoformat(), "end": result.end.isoformat()},
        "metric": result.metric,
        "currency": result.currency,
        "by_provider": {name: money_str(cost) for name, cost in result.by_provider.items()},
        "total": money_str(result.total),
    }


def as_json_text(result: DemoLoad) -> str:
    return orjson.dumps(as_dict(result)).decode()


def as_lines(result: DemoLoad) -> list[str]:
    """What `oco demo load` prints: the load, the period to query, and the cost per provider."""
    last_day = result.end - timedelta(days=1)
    lines = [
        f"ingestion {result.ingestion_id}: {result.rows:,} rows of the FOCUS 1.0 sample"
        f" ({result.replaced_rows:,} replaced from an earlier load)",
        f"charge period: {result.start.isoformat()} to {result.end.isoformat()} (end exclusive;"
        f" last day {last_day.isoformat()})",
        f"{result.metric} cost per provider ({result.currency}), as GET /api/v1/costs reports it"
        f" (?from={result.start.isoformat()}&to={result.end.isoformat()}&group_by=provider):",
    ]
    width = max((len(name) for name in result.by_provider), default=0)
    lines += [f"  {name:<{width}}  {money_str(cost)}" for name, cost in result.by_provider.items()]
    lines.append(f"  {'total':<{width}}  {money_str(result.total)}")
    return lines
