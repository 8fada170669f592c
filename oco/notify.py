"""Outgoing webhooks of every service: a persisted delivery per notification (written before anything is
sent, so a crash loses nothing), a worker that POSTs the exact body signed `X-OCO-Signature: sha256=<hex
HMAC-SHA256 of the body>` with retries (exponential backoff + jitter), and the delivery log it keeps.

Never sent: URLs whose host resolves to a loopback, private, link-local or otherwise non-public address,
unless `OCO_NOTIFY_ALLOW_HOSTS` (or the general `OCO_OUTBOUND_ALLOW_HOSTS`) names the host, the address or
a network holding it (oco/netguard.py: every resolved address is checked, before each attempt; redirects
are not followed). Without `OCO_NOTIFY_SECRET` a delivery is recorded as
failed with the reason: there is no default secret. The secret never appears in the log or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from oco.db import Database
from oco.netguard import AddressPolicy, Refused
from oco.pagination import PageParams, paginate
from oco.settings import PlatformSettings
from oco.tables import notification_deliveries as deliveries
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("oco.notify")

SIGNATURE_HEADER = "X-OCO-Signature"
EVENT_HEADER = "X-OCO-Event"
DELIVERY_HEADER = "X-OCO-Delivery"
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
STATUSES = (PENDING, SUCCEEDED, FAILED)
#: HTTP answers worth another attempt (others in 4xx are the receiver refusing the request for good)
RETRYABLE_STATUS = frozenset({408, 425, 429})
NO_SECRET = "OCO_NOTIFY_SECRET is not set: webhooks are never sent unsigned"  # noqa: S105 - a message
MAX_ERROR_CHARS = 500


def sign(secret: str, body: bytes) -> str:
    """The `X-OCO-Signature` value of a body: `sha256=<hex HMAC-SHA256(secret, body)>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` is the one `sign(secret, body)` gives (constant-time), for receivers."""
    return hmac.compare_digest(sign(secret, body), signature)


def slack_body(text: str) -> dict[str, Any]:
    """A Slack-compatible (incoming webhook) payload."""
    return {"text": text}


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and the delay before each retry: base x 2^(n-1), capped, times a jitter in [0.5, 1)."""

    max_attempts: int = 6
    backoff_s: float = 2.0
    backoff_max_s: float = 600.0
    timeout_s: float = 10.0

    def delay_s(self, attempts_made: int) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** max(attempts_made - 1, 0))
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not cryptography


def _body_bytes(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)


class Notifier:
    """Enqueues and delivers one service's webhooks. `send()` persists a delivery and wakes the worker
    (`start()`/`stop()`); `deliver_due()` runs one pass by hand. Pending deliveries left by a previous
    process are picked up when due. `on_failed(delivery)` is called when a delivery fails for good."""

    def __init__(
        self,
        database: Database,
        secret: str | None,
        *,
        service: str,
        addresses: AddressPolicy | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 5.0,
        on_failed: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.database = database
        self._secret = secret or None
        self.service = service
        self.addresses = addresses or AddressPolicy()
        self.retry = retry or RetryPolicy()
        self.poll_interval_s = poll_interval_s
        self.on_failed = on_failed
        self.clock = clock
        self._transport = transport
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    # -- enqueueing --------------------------------------------------------------------------------------

    async def send(
        self, url: str, event: str, payload: dict[str, Any], *, once_key: str | None = None
    ) -> int:
        """Record a delivery of `payload` (a JSON object: pass `slack_body(text)` for Slack) to `url` as
        `event`, and return its id; the worker sends it. Without a secret it is recorded failed at once.
        With `once_key`, a second send of the same key returns the first delivery's id and sends nothing."""
        if once_key is not None:
            existing = await self._by_key(once_key)
            if existing is not None:
                return existing
        now = self.clock()
        values: dict[str, Any] = {
            "service": self.service,
            "url": url,
            "event": event,
            "body": _body_bytes(payload),
            "dedupe_key": once_key,
            "status": PENDING,
            "attempts": 0,
            "max_attempts": self.retry.max_attempts,
            "next_attempt_at": now,
            "attempt_log": [],
            "created_at": now,
            "updated_at": now,
        }
        if self._secret is None:
            values.update(status=FAILED, next_attempt_at=None, last_error=NO_SECRET)
        try:
            async with self.database.session() as session:
                result = await session.execute(
                    sa.insert(deliveries).values(**values).returning(deliveries.c.id)
                )
                delivery_id = int(result.scalar_one())
        except IntegrityError:
            existing = await self._by_key(once_key) if once_key is not None else None
            if existing is None:
                raise
            return existing  # another process sent the same key first
        if self._secret is None:
            log.warning("webhook delivery %s (%s) failed: %s", delivery_id, event, NO_SECRET)
            self._failed({**values, "id": delivery_id})
        else:
            self._wake.set()
        return delivery_id

    async def _by_key(self, once_key: str) -> int | None:
        async with self.database.engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(deliveries.c.id).where(
                        deliveries.c.service == self.service, deliveries.c.dedupe_key == once_key
                    )
                )
            ).scalar_one_or_none()
        return int(found) if found is not None else None

    # -- reading -----------------------------------------------------------------------------------------

    async def get(self, delivery_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)))
                .mappings()
                .first()
            )
        return _shape(dict(row)) if row else None

    async def list(
        self,
        page: PageParams,
        *,
        status: str | None = None,
        event: str | None = None,
        url: str | None = None,
        since: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Deliveries of this service, newest first, filtered; and how many match."""
        statement = sa.select(deliveries).where(deliveries.c.service == self.service)
        if status:
            statement = statement.where(deliveries.c.status == status)
        if event:
            statement = statement.where(deliveries.c.event == event)
        if url:
            statement = statement.where(deliveries.c.url == url)
        if since:
            statement = statement.where(deliveries.c.created_at >= since)
        statement = statement.order_by(deliveries.c.id.desc())
        async with self.database.engine.connect() as conn:
            rows, total = await paginate(conn, statement, page)
        return [_shape(r) for r in rows], total

    # -- delivering --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the delivery worker in the background (it also resumes deliveries left pending)."""
        if self._task is None:
            self._task = asyncio.create_task(self._work(), name=f"notifier-{self.service}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _work(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker outlives a database outage
                log.exception("webhook worker pass failed")
            wait = await self._next_wait_s()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _next_wait_s(self) -> float:
        try:
            async with self.database.engine.connect() as conn:
                nxt = (
                    await conn.execute(
                        sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
                            deliveries.c.service == self.service, deliveries.c.status == PENDING
                        )
                    )
                ).scalar_one()
        except Exception:
            return self.poll_interval_s
        due = as_utc(nxt)
        if due is None:
            return self.poll_interval_s
        return max(0.0, min(self.poll_interval_s, (due - self.clock()).total_seconds()))

    async def deliver_due(self) -> int:
        """Attempt every pending delivery that is due, once each; return how many were attempted."""
        now = self.clock()
        async with self.database.engine.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(deliveries.c.id, deliveries.c.attempts)
                    .where(
                        deliveries.c.service == self.service,
                        deliveries.c.status == PENDING,
                        deliveries.c.next_attempt_at <= now,
                    )
                    .order_by(deliveries.c.next_attempt_at)
                    .limit(100)
                )
            ).all()
        attempted = 0
        for delivery_id, attempts in due:
            if await self._claim(delivery_id, attempts):
                await self._attempt(delivery_id)
                attempted += 1
        return attempted

    async def _claim(self, delivery_id: int, attempts: int) -> bool:
        """Take the delivery for one attempt (another replica or pass may race): its next attempt moves past
        this one's timeout, so a process that dies mid-attempt leaves it to be retried."""
        hold = self.clock() + timedelta(seconds=self.retry.timeout_s + 30)
        async with self.database.session() as session:
            result = await session.execute(
                sa.update(deliveries)
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.status == PENDING,
                    deliveries.c.attempts == attempts,
                )
                .values(attempts=attempts + 1, next_attempt_at=hold, updated_at=self.clock())
            )
            return cast("sa.CursorResult[Any]", result).rowcount == 1

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.retry.timeout_s, follow_redirects=False, transport=self._transport
            )
        return self._client

    async def _attempt(self, delivery_id: int) -> None:
        async with self.database.engine.connect() as conn:
            row = dict(
                (await conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)))
                .mappings()
                .one()
            )
        started = time.perf_counter()
        http_status: int | None = None
        error: str | None = None
        retryable = True
        try:
            if self._secret is None:
                raise Refused(NO_SECRET)
            await self.addresses.check(row["url"], what="webhook URL")
            body = row["body"].encode()
            response = await self._http().post(
                row["url"],
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "open-cloud-ops-webhooks",
                    SIGNATURE_HEADER: sign(self._secret, body),
                    EVENT_HEADER: row["event"],
                    DELIVERY_HEADER: str(delivery_id),
                },
            )
            http_status = response.status_code
            if not 200 <= http_status < 300:
                error = f"HTTP {http_status}"
                retryable = http_status >= 500 or http_status in RETRYABLE_STATUS
        except Refused as exc:
            error, retryable = str(exc), False
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS] or type(exc).__name__
        duration_ms = int((time.perf_counter() - started) * 1000)
        await self._record(row, http_status, error, retryable, duration_ms)

    async def _record(
        self,
        row: dict[str, Any],
        http_status: int | None,
        error: str | None,
        retryable: bool,
        duration_ms: int,
    ) -> None:
        now = self.clock()
        attempts = int(row["attempts"])
        entry = {
            "attempt": attempts,
            "at": now.isoformat(),
            "outcome": "succeeded" if error is None else "failed",
            "http_status": http_status,
            "error": error,
            "duration_ms": duration_ms,
        }
        values: dict[str, Any] = {
            "attempt_log": [*(row["attempt_log"] or []), entry],
            "last_http_status": http_status,
            "last_error": error,
            "updated_at": now,
        }
        if error is None:
            values.update(status=SUCCEEDED, delivered_at=now, next_attempt_at=None)
        elif not retryable or attempts >= int(row["max_attempts"]):
            values.update(status=FAILED, next_attempt_at=None)
        else:
            values["next_attempt_at"] = now + timedelta(seconds=self.retry.delay_s(attempts))
        async with self.database.session() as session:
            await session.execute(sa.update(deliveries).where(deliveries.c.id == row["id"]).values(**values))
        if values.get("status") == FAILED:
            log.warning("webhook delivery %s (%s) failed for good: %s", row["id"], row["event"], error)
            self._failed({**row, **values})
        elif error is not None:
            log.info("webhook delivery %s attempt %s failed: %s", row["id"], attempts, error)

    def _failed(self, delivery: dict[str, Any]) -> None:
        if self.on_failed is not None:
            try:
                self.on_failed(delivery)
            except Exception:
                log.exception("on_failed hook raised")


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    """A delivery as the API shows it (the body parsed; datetimes in UTC)."""
    for key in ("next_attempt_at", "created_at", "updated_at", "delivered_at"):
        if row.get(key) is not None:
            row[key] = as_utc(row[key])
    row["payload"] = json.loads(row.pop("body"))
    row.pop("dedupe_key", None)
    row["attempt_log"] = list(row.get("attempt_log") or [])
    return row


def notifier_from_settings(
    database: Database,
    settings: PlatformSettings,
    *,
    service: str,
    on_failed: Callable[[dict[str, Any]], None] | None = None,
) -> Notifier:
    """A service's Notifier from OCO_NOTIFY_* (no secret: deliveries are recorded failed, never unsigned)."""
    secret = settings.oco_notify_secret.get_secret_value() if settings.oco_notify_secret else None
    return Notifier(
        database,
        secret,
        service=service,
        addresses=AddressPolicy.parse(settings.oco_notify_allow_hosts, settings.oco_outbound_allow_hosts),
        retry=RetryPolicy(
            max_attempts=settings.oco_notify_max_attempts,
            backoff_s=settings.oco_notify_backoff_s,
            backoff_max_s=settings.oco_notify_backoff_max_s,
            timeout_s=settings.oco_notify_timeout_s,
        ),
        on_failed=on_failed,
    )
