"""The request log as FOCUS 1.2 rows: one per hour x key x model (x team, org, agent and alias, carried in
Tags), streamed as CSV batch by batch or as Parquet row groups (a temporary file, then chunks).

ProviderName is the LLM provider, ServiceCategory "AI and Machine Learning", ServiceName and SkuId the
model, SubAccountId the cerebra key, ChargeCategory "Usage"; BilledCost = EffectiveCost = ListCost = the
logged cost (unpriced calls count 0 and are counted in x_UnpricedRequests). Columns named x_* carry the
request and token counts; FOCUS readers ignore them."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import orjson
import pyarrow as pa

from cerebra.analytics import repository as repo
from cerebra.analytics.params import Window
from oco.db import Database
from oco.timeutil import as_utc

FocusFormat = Literal["csv", "parquet"]
FOCUS_VERSION = "1.2"
BATCH_ROWS = 10_000
_CHUNK = 1 << 20
BILLING_ACCOUNT = "cerebra"
PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Google", "mock": "Cerebra mock"}
MILLION = Decimal(1_000_000)

MONEY, QUANTITY, TIME, TEXT, COUNT = "money", "quantity", "time", "text", "count"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("BilledCost", MONEY),
    ("EffectiveCost", MONEY),
    ("ListCost", MONEY),
    ("ContractedCost", MONEY),
    ("BillingCurrency", TEXT),
    ("PricingQuantity", QUANTITY),
    ("PricingUnit", TEXT),
    ("ConsumedQuantity", QUANTITY),
    ("ConsumedUnit", TEXT),
    ("BillingPeriodStart", TIME),
    ("BillingPeriodEnd", TIME),
    ("ChargePeriodStart", TIME),
    ("ChargePeriodEnd", TIME),
    ("BillingAccountId", TEXT),
    ("BillingAccountName", TEXT),
    ("SubAccountId", TEXT),
    ("SubAccountName", TEXT),
    ("ProviderName", TEXT),
    ("PublisherName", TEXT),
    ("InvoiceIssuerName", TEXT),
    ("ChargeCategory", TEXT),
    ("ChargeDescription", TEXT),
    ("ChargeFrequency", TEXT),
    ("PricingCategory", TEXT),
    ("ServiceCategory", TEXT),
    ("ServiceName", TEXT),
    ("ResourceId", TEXT),
    ("ResourceName", TEXT),
    ("ResourceType", TEXT),
    ("SkuId", TEXT),
    ("Tags", TEXT),
    ("x_Requests", COUNT),
    ("x_PromptTokens", COUNT),
    ("x_CompletionTokens", COUNT),
    ("x_CacheReadTokens", COUNT),
    ("x_CacheWriteTokens", COUNT),
    ("x_UnpricedRequests", COUNT),
)
_ARROW = {
    MONEY: pa.decimal128(24, 6),
    QUANTITY: pa.decimal128(38, 12),
    TIME: pa.timestamp("us", tz="UTC"),
    TEXT: pa.string(),
    COUNT: pa.int64(),
}
PARQUET_SCHEMA = pa.schema(
    [pa.field(name, _ARROW[kind]) for name, kind in COLUMNS], metadata={"focus_version": FOCUS_VERSION}
)


def _month(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


def focus_row(group: dict[str, Any]) -> dict[str, Any]:
    """One rollup group as FOCUS values (Decimal money, UTC datetimes, ints, str)."""
    hour = as_utc(group["hour"]).astimezone(UTC)
    period_start, period_end = _month(hour)
    cost = Decimal(group["cost_usd"] or 0)
    tokens = sum(int(group[n] or 0) for n in ("prompt_tokens", "completion_tokens"))
    model, alias, key_id = group["model"], group["alias"], group["key_id"]
    provider = PROVIDER_NAMES.get(group["provider"] or "", group["provider"] or "Cerebra")
    tags = {
        name: group[column]
        for name, column in (
            ("team", "team_id"),
            ("org", "org_id"),
            ("agent", "agent_id"),
            ("alias", "alias"),
        )
        if group[column] is not None
    }
    return {
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ListCost": cost,
        "ContractedCost": cost,
        "BillingCurrency": "USD",
        "PricingQuantity": Decimal(tokens) / MILLION,
        "PricingUnit": "1M Tokens",
        "ConsumedQuantity": Decimal(tokens),
        "ConsumedUnit": "Tokens",
        "BillingPeriodStart": period_start,
        "BillingPeriodEnd": period_end,
        "ChargePeriodStart": hour,
        "ChargePeriodEnd": hour + timedelta(hours=1),
        "BillingAccountId": BILLING_ACCOUNT,
        "BillingAccountName": "Cerebra LLM gateway",
        "SubAccountId": None if key_id is None else f"key-{key_id}",
        "SubAccountName": group.get("key_name"),
        "ProviderName": provider,
        "PublisherName": provider,
        "InvoiceIssuerName": provider,
        "ChargeCategory": "Usage",
        "ChargeDescription": f"{model or 'no model'} tokens" + (f" via {alias}" if alias else ""),
        "ChargeFrequency": "Usage-Based",
        "PricingCategory": "Standard",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": model or "Cerebra gateway",
        "ResourceId": alias,
        "ResourceName": alias,
        "ResourceType": "LLM route" if alias else None,
        "SkuId": model,
        "Tags": orjson.dumps(tags, option=orjson.OPT_SORT_KEYS).decode(),
        "x_Requests": int(group["requests"]),
        "x_PromptTokens": int(group["prompt_tokens"] or 0),
        "x_CompletionTokens": int(group["completion_tokens"] or 0),
        "x_CacheReadTokens": int(group["cache_read_tokens"] or 0),
        "x_CacheWriteTokens": int(group["cache_creation_tokens"] or 0),
        "x_UnpricedRequests": int(group["unpriced_requests"] or 0),
    }


def _text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind in (MONEY, QUANTITY):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if kind == TIME:
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _csv(values: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(values)
    return out.getvalue().encode()


def csv_rows(groups: Sequence[dict[str, Any]]) -> bytes:
    rows = [focus_row(g) for g in groups]
    return _csv([[_text(r[name], kind) for name, kind in COLUMNS] for r in rows])


def arrow_batch(groups: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    rows = [focus_row(g) for g in groups]
    arrays = [
        pa.array([r[name] for r in rows], type=field.type)
        for (name, _kind), field in zip(COLUMNS, PARQUET_SCHEMA, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=PARQUET_SCHEMA)


class FocusExport:
    """Streams the log of a window as a FOCUS file, never holding more than one batch of groups."""

    def __init__(self, database: Database, *, batch_rows: int = BATCH_ROWS) -> None:
        self.database = database
        self.batch_rows = batch_rows

    @staticmethod
    def media_type(fmt: FocusFormat) -> str:
        return "text/csv; charset=utf-8" if fmt == "csv" else "application/vnd.apache.parquet"

    @staticmethod
    def file_name(window: Window, fmt: FocusFormat) -> str:
        stamp = "%Y%m%dT%H%MZ"
        return f"cerebra-focus-{window.start.strftime(stamp)}-{window.end.strftime(stamp)}.{fmt}"

    def stream(self, window: Window, fmt: FocusFormat) -> AsyncIterator[bytes]:
        return self._csv(window) if fmt == "csv" else self._parquet(window)

    async def _batches(self, window: Window) -> AsyncIterator[list[dict[str, Any]]]:
        statement = repo.focus_statement(window, self.database.dialect)
        async with self.database.engine.connect() as conn:
            async for batch in repo.stream(conn, statement, self.batch_rows):
                yield batch

    async def _csv(self, window: Window) -> AsyncIterator[bytes]:
        yield _csv([[name for name, _kind in COLUMNS]])
        async for batch in self._batches(window):
            yield await asyncio.to_thread(csv_rows, batch)

    async def _parquet(self, window: Window) -> AsyncIterator[bytes]:
        import pyarrow.parquet as pq

        with tempfile.TemporaryFile(prefix="cerebra-focus-") as spool:
            writer = pq.ParquetWriter(spool, PARQUET_SCHEMA, compression="zstd")
            try:
                async for batch in self._batches(window):
                    table = await asyncio.to_thread(arrow_batch, batch)
                    await asyncio.to_thread(writer.write_batch, table)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(writer.close)
            await asyncio.to_thread(spool.seek, 0)
            while chunk := await asyncio.to_thread(spool.read, _CHUNK):
                yield chunk
