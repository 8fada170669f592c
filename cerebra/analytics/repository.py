"""SQL of the analytics: the request log summed per day or hour (on PostgreSQL the `api_requests_daily` or
`api_requests_hourly` rollup when the window is whole days or hours; else the log grouped on the fly:
SQLite, odd windows), and the raw rows that percentiles and recommendations need. Dialect differences live in the few functions below."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cerebra.analytics.params import DIMENSIONS, Granularity, Window
from cerebra.analytics.tables import api_requests, api_requests_daily, api_requests_hourly
from oco.tables import api_keys

MONEY = sa.Numeric(24, 6)
DIMENSION_COLUMNS = ("key_id", "team_id", "org_id", "agent_id", "alias", "provider", "model")
MEASURES = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cost_usd",
    "unpriced_requests",
    "cache_hits",
    "saved_cost_usd",
)
_MONEY_MEASURES = frozenset({"cost_usd", "saved_cost_usd"})


def _utc_trunc(field: str, moment: Any, dialect: str) -> Any:
    """`moment` truncated to the UTC hour or day, as a timestamp the driver reads back."""
    if dialect == "postgresql":
        return sa.func.timezone("UTC", sa.func.date_trunc(field, sa.func.timezone("UTC", moment)))
    pattern = "%Y-%m-%d %H:00:00" if field == "hour" else "%Y-%m-%d 00:00:00"
    return sa.type_coerce(sa.func.strftime(pattern, moment), sa.DateTime())


def _flag(condition: Any) -> Any:
    return sa.case((condition, 1), else_=0)


Grain = Literal["hour", "day"]


def _grouped_log(window: Window, dialect: str, grain: Grain) -> sa.Subquery:
    """The log rows of the window summed per hour or day (`bucket`) and dimensions (the rollups' columns)."""
    c = api_requests.c
    bucket = _utc_trunc(grain, c.created_at, dialect)
    return (
        sa.select(
            bucket.label("bucket"),
            *(c[name] for name in DIMENSION_COLUMNS),
            sa.func.count().label("requests"),
            sa.func.sum(_flag(c.status_code >= 400)).label("errors"),
            sa.func.sum(c.prompt_tokens).label("prompt_tokens"),
            sa.func.sum(c.completion_tokens).label("completion_tokens"),
            sa.func.sum(c.cache_read_tokens).label("cache_read_tokens"),
            sa.func.sum(c.cache_creation_tokens).label("cache_creation_tokens"),
            sa.type_coerce(sa.func.sum(c.cost_usd), MONEY).label("cost_usd"),
            sa.func.sum(_flag(c.unpriced)).label("unpriced_requests"),
            sa.func.sum(_flag(c.cache_hit)).label("cache_hits"),
            sa.type_coerce(sa.func.sum(c.saved_cost_usd), MONEY).label("saved_cost_usd"),
        )
        .where(c.created_at >= window.start, c.created_at < window.end)
        .group_by(bucket, *(c[name] for name in DIMENSION_COLUMNS))
        .subquery("summed")
    )


def _rollup(window: Window, grain: Grain) -> sa.Subquery:
    """The rollup rows of the window, its '' / 0 placeholders read back as NULL."""
    h = (api_requests_hourly if grain == "hour" else api_requests_daily).c
    dims = [sa.func.nullif(h[name], 0 if name == "key_id" else "").label(name) for name in DIMENSION_COLUMNS]
    return (
        sa.select(h[grain].label("bucket"), *dims, *(h[name] for name in MEASURES))
        .where(h[grain] >= window.start, h[grain] < window.end)
        .subquery("summed")
    )


def summed(window: Window, dialect: str, grain: Grain = "hour") -> sa.Subquery:
    """Per `bucket` (hour or day) and dimensions, the window's sums: from a rollup when one answers exactly
    (on PostgreSQL: the daily one for whole-day windows asked per day or in total, else the hourly one for
    whole hours), else from the log. A `day` grain needs a whole-day window (`Window.day_aligned`)."""
    if dialect == "postgresql" and window.hour_aligned:
        return _rollup(window, "day" if grain == "day" and window.day_aligned else "hour")
    return _grouped_log(window, dialect, grain)


def _grain(window: Window, granularity: Granularity | None) -> Grain:
    return "day" if granularity != "hour" and window.day_aligned else "hour"


def _sum(source: sa.Subquery, name: str) -> Any:
    total = sa.func.sum(source.c[name])
    return sa.type_coerce(total, MONEY) if name in _MONEY_MEASURES else sa.func.coalesce(total, 0)


def grouped_statement(
    window: Window,
    dialect: str,
    dimensions: Sequence[str],
    granularity: Granularity | None,
    measures: Sequence[str],
) -> sa.Select[Any]:
    """The window's measures summed per period (when `granularity`) and dimensions (public names)."""
    source = summed(window, dialect, _grain(window, granularity))
    keys: list[Any] = []
    if granularity is not None:
        period = source.c.bucket if granularity == "hour" else _utc_trunc("day", source.c.bucket, dialect)
        keys.append(period.label("period"))
    keys.extend(source.c[DIMENSIONS[d]].label(d) for d in dimensions)
    statement = sa.select(*keys, *(_sum(source, m).label(m) for m in measures))
    if keys:
        statement = statement.group_by(*keys).order_by(*keys)
    return statement


def top_statement(window: Window, dialect: str, dimension: str, limit: int) -> sa.Select[Any]:
    """The `limit` values of a dimension that cost most in the window, most first."""
    source = summed(window, dialect, _grain(window, None))
    key = source.c[DIMENSIONS[dimension]].label(dimension)
    cost = _sum(source, "cost_usd")
    return (
        sa.select(key, cost.label("cost_usd"), _sum(source, "requests").label("requests"))
        .group_by(key)
        .order_by(sa.func.coalesce(cost, 0).desc(), key)
        .limit(limit)
    )


async def rows(conn: AsyncConnection, statement: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in (await conn.execute(statement)).mappings()]


def latency_statement(window: Window, dialect: str) -> sa.Select[Any]:
    """p50/p95/p99 of latency and time to first token per model and provider (PostgreSQL), or, on SQLite,
    the latencies themselves in order (percentiles are then computed in Python, with the same definition)."""
    c = api_requests.c
    where = (c.created_at >= window.start, c.created_at < window.end, c.status_code < 400)
    if dialect == "postgresql":
        fractions = sa.literal([0.5, 0.95, 0.99], sa.ARRAY(sa.Float))
        return (
            sa.select(
                c.model,
                c.provider,
                sa.func.count().label("requests"),
                sa.func.percentile_cont(fractions).within_group(c.latency_ms).label("latency"),
                sa.func.percentile_cont(fractions).within_group(c.ttft_ms).label("ttft"),
            )
            .where(*where)
            .group_by(c.model, c.provider)
            .order_by(c.model, c.provider)
        )
    return sa.select(c.model, c.provider, c.latency_ms, c.ttft_ms).where(*where).order_by(c.model, c.provider)


def short_call_statement(window: Window, max_prompt: int, max_completion: int) -> sa.Select[Any]:
    """Per model and provider, the successful, priced, uncached calls of the window with a prompt of at
    most `max_prompt` tokens and an answer of at most `max_completion`: their count, tokens and cost."""
    c = api_requests.c
    return (
        sa.select(
            c.model,
            c.provider,
            sa.func.count().label("requests"),
            sa.func.sum(c.prompt_tokens).label("prompt_tokens"),
            sa.func.sum(c.completion_tokens).label("completion_tokens"),
            sa.func.sum(c.cache_read_tokens).label("cache_read_tokens"),
            sa.func.sum(c.cache_creation_tokens).label("cache_creation_tokens"),
            sa.type_coerce(sa.func.sum(c.cost_usd), MONEY).label("cost_usd"),
        )
        .where(
            c.created_at >= window.start,
            c.created_at < window.end,
            c.status_code < 400,
            c.cache_hit.is_(False),
            c.unpriced.is_(False),
            c.model.is_not(None),
            c.prompt_tokens <= max_prompt,
            c.completion_tokens <= max_completion,
        )
        .group_by(c.model, c.provider)
        .order_by(c.model, c.provider)
    )


def focus_statement(window: Window, dialect: str) -> sa.Select[Any]:
    """Every hour x key x model (x team, org, agent, alias) group of the window with the key's name."""
    source = summed(window, dialect, "hour")
    columns = [
        source.c.bucket.label("hour"),
        *(source.c[n] for n in DIMENSION_COLUMNS),
        *(source.c[m] for m in MEASURES),
    ]
    return (
        sa.select(*columns, api_keys.c.name.label("key_name"))
        .select_from(source.outerjoin(api_keys, api_keys.c.id == source.c.key_id))
        .order_by(source.c.bucket, *(source.c[n] for n in DIMENSION_COLUMNS))
    )


async def stream(
    conn: AsyncConnection, statement: sa.Select[Any], batch_size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """The statement's rows as dicts, `batch_size` at a time, from a server-side cursor."""
    result = await conn.stream(statement.execution_options(yield_per=batch_size))
    async for partition in result.mappings().partitions(batch_size):
        yield [dict(row) for row in partition]
