"""Stored responses (`store: true`): the response object and the conversation that led to it, per API key,
kept for OCO_CEREBRA_RESPONSES_TTL_DAYS. Written off the request path (batched by the kernel's buffered
writer), yet found at once by the same process: recent responses are served from memory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import sqlalchemy as sa

from oco.db import Database
from oco.timeutil import as_utc, utcnow
from oco.writer import BufferedWriter

log = logging.getLogger("cerebra.responses")

metadata = sa.MetaData()

# schema owned by migration 0013_cerebra_responses
cerebra_responses = sa.Table(
    "cerebra_responses",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("deployment_id", sa.String(300), nullable=True),
    sa.Column("input_json", sa.Text, nullable=False),
    sa.Column("response_json", sa.Text, nullable=False),
)

PURGE_INTERVAL_S = 3600.0
MEMORY_LIMIT = 10_000  # responses held in memory until their row is surely written


@dataclass(slots=True)
class StoredResponse:
    """One stored response: who made it, where it was answered, its conversation and the object itself."""

    id: str
    key_id: int
    created_at: datetime
    expires_at: datetime
    model: str | None
    deployment_id: str | None
    input: list[dict]  # the whole conversation before this response (earlier turns included)
    response: dict

    def conversation(self) -> list[dict]:
        """What a follow-up (`previous_response_id`) continues: the input, then this response's output."""
        return [*self.input, *self.response.get("output", [])]


class ResponseStore:
    """Save, find, delete and purge stored responses (scoped to the key that created them). Rows go through
    the kernel's buffered writer (batched inserts, retried through short outages, bounded: a full queue
    drops and counts); recent ones are also kept in memory, so the next turn never waits for the write."""

    def __init__(
        self,
        database: Database,
        ttl_days: float,
        *,
        retry_window_s: float = 30.0,
        flush_interval_s: float = 0.2,
    ) -> None:
        self.database = database
        self.ttl = timedelta(days=ttl_days)
        self.writer = BufferedWriter(
            database,
            cerebra_responses,
            name="cerebra_responses",
            queue_size=MEMORY_LIMIT,
            batch_size=200,
            flush_interval_s=flush_interval_s,
            retry_window_s=retry_window_s,
        )
        self.memory_s = retry_window_s + 10 * flush_interval_s + 5  # by then the row is written or given up
        self._recent: OrderedDict[str, tuple[float, StoredResponse]] = OrderedDict()
        self._purger: asyncio.Task | None = None

    def start(self) -> None:
        self.writer.start()
        self._purger = asyncio.create_task(self._purge_forever())

    async def close(self) -> None:
        """Write what is queued (shutdown)."""
        if self._purger is not None:
            self._purger.cancel()
        await self.writer.stop()

    def record(
        self,
        response: dict,
        key_id: int,
        conversation: list[dict],
        deployment_id: str | None,
    ) -> StoredResponse:
        now = utcnow()
        return StoredResponse(
            id=response["id"],
            key_id=key_id,
            created_at=now,
            expires_at=now + self.ttl,
            model=str(response.get("model") or "")[:200] or None,
            deployment_id=deployment_id[:300] if deployment_id else None,
            input=conversation,
            response=response,
        )

    def save(self, stored: StoredResponse) -> None:
        """Queue the row (never blocks the caller) and keep the response in memory meanwhile."""
        queued = self.writer.enqueue(
            {
                "id": stored.id,
                "key_id": stored.key_id,
                "created_at": stored.created_at,
                "expires_at": stored.expires_at,
                "model": stored.model,
                "deployment_id": stored.deployment_id,
                "input_json": orjson.dumps(stored.input).decode(),
                "response_json": orjson.dumps(stored.response).decode(),
            }
        )
        if not queued:
            log.warning("stored response %s dropped: the write queue is full", stored.id)
            return
        now = time.monotonic()
        self._recent[stored.id] = (now, stored)
        while self._recent:
            oldest, _ = next(iter(self._recent.values()))
            if len(self._recent) <= MEMORY_LIMIT and now - oldest < self.memory_s:
                break
            self._recent.popitem(last=False)

    async def get(self, response_id: str, key_id: int) -> StoredResponse | None:
        """The response `response_id` of this key, unexpired; None otherwise (another key's is None too)."""
        recent = self._recent.get(response_id)
        stored = recent[1] if recent is not None else None
        if stored is None:
            async with self.database.engine.connect() as conn:
                row = (
                    await conn.execute(
                        sa.select(cerebra_responses).where(cerebra_responses.c.id == response_id)
                    )
                ).first()
            if row is None:
                return None
            stored = StoredResponse(
                id=row.id,
                key_id=row.key_id,
                created_at=as_utc(row.created_at),
                expires_at=as_utc(row.expires_at),
                model=row.model,
                deployment_id=row.deployment_id,
                input=orjson.loads(row.input_json),
                response=orjson.loads(row.response_json),
            )
        if stored.key_id != key_id or stored.expires_at <= utcnow():
            return None
        return stored

    async def delete(self, response_id: str, key_id: int) -> bool:
        """Delete this key's response; False when there is none."""
        if await self.get(response_id, key_id) is None:
            return False
        if self._recent.pop(response_id, None) is not None:
            await self.writer.flush()  # its insert lands first, so the delete below removes it for good
        async with self.database.engine.begin() as conn:
            await conn.execute(
                cerebra_responses.delete().where(
                    cerebra_responses.c.id == response_id, cerebra_responses.c.key_id == key_id
                )
            )
        return True

    async def purge(self) -> int:
        """Delete every expired response; how many went."""
        async with self.database.engine.begin() as conn:
            result = await conn.execute(
                cerebra_responses.delete().where(cerebra_responses.c.expires_at <= utcnow())
            )
        return result.rowcount or 0

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception:  # noqa: BLE001 - the database may be down; the next round tries again
                log.warning("expired stored responses could not be purged", exc_info=True)
            await asyncio.sleep(PURGE_INTERVAL_S)
