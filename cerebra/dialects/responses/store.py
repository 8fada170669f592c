"""Stored responses (`store: true`): the response object and the conversation that led to it, per API key,
kept for OCO_CEREBRA_RESPONSES_TTL_DAYS. Written off the request path (a background insert), yet found at
once by the same process: a response is served from memory until its row is written."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import sqlalchemy as sa
from prometheus_client import Counter

from oco.db import Database
from oco.timeutil import as_utc, utcnow

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

STORE_FAILURES = Counter(
    "cerebra_responses_store_failures_total", "Stored responses that could not be written"
)
PURGE_INTERVAL_S = 3600.0


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
    """Save, find, delete and purge stored responses (scoped to the key that created them)."""

    def __init__(self, database: Database, ttl_days: float) -> None:
        self.database = database
        self.ttl = timedelta(days=ttl_days)
        self._pending: dict[str, StoredResponse] = {}
        self._tasks: set[asyncio.Task] = set()
        self._next_purge = 0.0

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
        """Queue the write (never blocks the caller); until it lands, get() answers from memory."""
        self._pending[stored.id] = stored
        task = asyncio.create_task(self._write(stored))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, stored: StoredResponse) -> None:
        try:
            async with self.database.engine.begin() as conn:
                await conn.execute(
                    cerebra_responses.insert().values(
                        id=stored.id,
                        key_id=stored.key_id,
                        created_at=stored.created_at,
                        expires_at=stored.expires_at,
                        model=stored.model,
                        deployment_id=stored.deployment_id,
                        input_json=orjson.dumps(stored.input).decode(),
                        response_json=orjson.dumps(stored.response).decode(),
                    )
                )
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + PURGE_INTERVAL_S
                await self.purge()
        except Exception:  # noqa: BLE001 - a lost stored response must not break the call that made it
            STORE_FAILURES.inc()
            log.warning("stored response %s could not be written", stored.id, exc_info=True)
        finally:
            self._pending.pop(stored.id, None)

    async def get(self, response_id: str, key_id: int) -> StoredResponse | None:
        """The response `response_id` of this key, unexpired; None otherwise (another key's is None too)."""
        stored = self._pending.get(response_id)
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
        if response_id in self._pending:  # let its insert land first, then delete the row
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
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

    async def close(self) -> None:
        """Wait for the writes still under way (shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
