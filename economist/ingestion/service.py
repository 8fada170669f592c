"""The ingestion capability: start an ingestion in the background, ingest an upload synchronously, list and
read records with live progress, and stop cleanly (running ingestions are marked failed, not left running).

Liveness: each pending/running ingestion of this process holds a kv key `economist:ingestion:<id>` (value:
this process's owner id) with a TTL of `stale_after_s`, set before its record is committed and refreshed
every `heartbeat_interval_s`. An unfinished record whose key is gone was left by a dead process (kill -9,
crash) and is marked failed "interrupted": at start-up (`open()`), and periodically by the heartbeat loop,
so another replica's live run is never touched. With the in-process kv (one process), every unfinished
record found at start-up is a dead one's. When the kv cannot be read, nothing is reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import date, timedelta
from typing import IO, Any

import sqlalchemy as sa

from economist.ingestion import repository as repo
from economist.ingestion.factory import SourceFactory
from economist.ingestion.runner import IngestionFailed, LedgerIngestor
from economist.ingestion.slices import digest_stream
from economist.ledger.tables import ingestions
from economist.settings import EconomistSettings
from economist.sources import SourceProgress
from economist.sources.aws_cur import AwsCurSource
from economist.sources.azure_exports import AzureExportSource
from economist.sources.focus import open_focus_source
from oco.db import Database
from oco.kv import KV, MemoryKV
from oco.pagination import PageParams
from oco.timeutil import as_utc, utcnow

log = logging.getLogger("economist.ingestion")

UPLOAD_SOURCES = ("focus", "aws_cur", "azure_export")
UNFINISHED = ("pending", "running")
INTERRUPTED = "interrupted: the process running it stopped (crash or kill)"


def live_key(ingestion_id: int) -> str:
    """The kv key a live ingestion holds (see the module docstring)."""
    return f"economist:ingestion:{ingestion_id}"


class IngestionService:
    """One per process: owns the background tasks and the live progress of the ingestions it runs."""

    def __init__(
        self,
        database: Database,
        settings: EconomistSettings,
        factory: SourceFactory,
        *,
        kv: KV | None = None,
        heartbeat_interval_s: float = 10.0,
        stale_after_s: float = 60.0,
    ) -> None:
        self.database = database
        self.kv = kv or MemoryKV()
        self.owner = uuid.uuid4().hex[:16]
        self.heartbeat_interval_s = heartbeat_interval_s
        self.stale_after_s = stale_after_s
        self._heartbeat: asyncio.Task[None] | None = None
        self.settings = settings
        self.factory = factory
        self.ingestor = LedgerIngestor(
            database,
            normalizer=settings.tag_normalizer,
            batch_size=settings.oco_economist_batch_size,
            progress_interval_s=settings.oco_economist_progress_interval_s,
        )
        self.live: dict[int, SourceProgress] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max(1, settings.oco_economist_max_concurrent_ingestions))

    # -- starting ------------------------------------------------------------------------------------------

    async def start(
        self, kind: str, period: tuple[date, date] | None, options: dict[str, Any], *, created_by: str | None
    ) -> dict[str, Any]:
        """Validate, build the source, record a pending ingestion and run it in the background.
        Raises SourceRequestError for a request that cannot run."""
        source = await asyncio.to_thread(self.factory.build, kind, period, options, trusted=False)
        ingestion_id = await self._create_record(
            source=kind,
            status="pending",
            period=period,
            options=options,
            filename=str(options.get("path") or options.get("key") or "") or None,
            created_by=created_by,
        )
        task = asyncio.create_task(self._background(ingestion_id, kind, source, period))
        self._tasks[ingestion_id] = task
        record = await self.get(ingestion_id)
        assert record is not None
        return record

    async def _background(
        self, ingestion_id: int, kind: str, source: Any, period: tuple[date, date] | None
    ) -> None:
        try:
            async with self._slots:
                await self.ingestor.run(
                    ingestion_id,
                    source,
                    source_kind=kind,
                    window=period,
                    on_progress=self._progress(ingestion_id),
                )
        except IngestionFailed as exc:
            log.info("ingestion %s failed: %s", ingestion_id, exc)
        except Exception:  # recorded by the ingestor; a background task must not die noisily
            log.exception("ingestion %s crashed", ingestion_id)
        finally:
            self.live.pop(ingestion_id, None)
            self._tasks.pop(ingestion_id, None)
            await self._release(ingestion_id)

    def _progress(self, ingestion_id: int) -> Any:
        def update(_rows: int, progress: SourceProgress) -> None:
            self.live[ingestion_id] = progress

        return update

    async def upload(
        self,
        stream: IO[bytes],
        filename: str,
        *,
        kind: str = "focus",
        created_by: str | None,
        replace_key: str | None = None,
    ) -> dict[str, Any]:
        """Ingest an uploaded file (a seekable stream) now; return the succeeded record or raise
        IngestionFailed. Its origin is `filename` (or `replace_key`), see slices.py."""
        if kind not in UPLOAD_SOURCES:
            raise ValueError(f"uploads accept {', '.join(UPLOAD_SOURCES)}")
        digest = await asyncio.to_thread(digest_stream, stream)
        if kind == "focus":
            source: Any = open_focus_source(stream, filename=filename)
        elif kind == "aws_cur":
            source = AwsCurSource(stream, filename=filename)
        else:
            source = AzureExportSource(stream, filename=filename)
        options: dict[str, Any] = {"upload": True}
        if replace_key:
            options["replace_key"] = replace_key
        ingestion_id = await self._create_record(
            source=kind,
            status="running",
            period=None,
            options=options,
            filename=filename,
            created_by=created_by,
        )
        try:
            async with self._slots:
                return await self.ingestor.run(
                    ingestion_id,
                    source,
                    source_kind=kind,
                    window=None,
                    on_progress=self._progress(ingestion_id),
                    content_sha256=digest,
                )
        finally:
            self.live.pop(ingestion_id, None)
            await self._release(ingestion_id)

    # -- liveness: kv keys, heartbeat, reaping dead processes' records ------------------------------------

    async def _create_record(self, **values: Any) -> int:
        """Insert the record and set its live key before the insert commits, so no reader ever sees an
        unfinished record without its key (a kv failure is logged: the heartbeat sets the key later)."""
        ingestion_id = None
        try:
            async with self.database.engine.begin() as conn:
                ingestion_id = await repo.create_ingestion(conn, **values)
                self.live[ingestion_id] = SourceProgress()
                try:
                    await self.kv.set(live_key(ingestion_id), self.owner, ttl_s=self.stale_after_s)
                except Exception:
                    log.warning("could not set the live key of ingestion %s", ingestion_id, exc_info=True)
        except BaseException:
            if ingestion_id is not None:
                self.live.pop(ingestion_id, None)
            raise
        return ingestion_id

    async def _release(self, ingestion_id: int) -> None:
        try:
            await self.kv.delete(live_key(ingestion_id))
        except Exception:  # expires by itself
            log.warning("could not delete the live key of ingestion %s", ingestion_id, exc_info=True)

    async def open(self) -> None:
        """Start-up: mark dead processes' unfinished ingestions failed, then start the heartbeat loop."""
        try:
            await self.reap(startup=True)
        except Exception:  # the service still starts; the heartbeat loop tries again
            log.warning("could not reap interrupted ingestions at start-up", exc_info=True)
        self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            try:
                for ingestion_id in list(self.live):
                    await self.kv.set(live_key(ingestion_id), self.owner, ttl_s=self.stale_after_s)
                await self.reap()
            except Exception:
                log.warning("ingestion heartbeat failed", exc_info=True)

    async def reap(self, *, startup: bool = False) -> list[int]:
        """Mark failed "interrupted" the unfinished records no live process holds (module docstring);
        returns their ids. Records younger than `stale_after_s` are left alone unless the kv is this
        process's own (a key whose write failed is set again by its owner's heartbeat)."""
        single = startup and self.kv.backend == "memory"
        cutoff = utcnow() - timedelta(seconds=self.stale_after_s)
        async with self.database.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(ingestions.c.id, ingestions.c.created_at).where(
                        ingestions.c.status.in_(UNFINISHED)
                    )
                )
            ).all()
        dead = []
        for row in rows:
            if row.id in self.live:
                continue
            if single or (as_utc(row.created_at) < cutoff and await self.kv.get(live_key(row.id)) is None):
                dead.append(int(row.id))
        dead = [i for i in dead if i not in self.live]
        if dead:
            async with self.database.engine.begin() as conn:
                await repo.fail_unfinished(conn, dead, INTERRUPTED)
            log.warning("marked %d interrupted ingestion(s) failed: %s", len(dead), dead)
        return dead

    # -- reading -------------------------------------------------------------------------------------------

    def _overlay(self, record: dict[str, Any]) -> dict[str, Any]:
        progress = self.live.get(record["id"])
        if progress is not None and record["status"] in ("pending", "running"):
            record = {
                **record,
                "rows_read": max(progress.rows_read, record["rows_read"] or 0),
                "bytes_read": max(progress.bytes_read, record["bytes_read"] or 0),
                "bytes_total": progress.bytes_total
                if progress.bytes_total is not None
                else record["bytes_total"],
            }
        return record

    async def get(self, ingestion_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            record = await repo.get_ingestion(conn, ingestion_id)
        return self._overlay(record) if record else None

    async def list(
        self, page: PageParams, *, source: str | None = None, status: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            records, total = await repo.list_ingestions(conn, page, source=source, status=status)
        return [self._overlay(r) for r in records], total

    async def wait(self, ingestion_id: int) -> None:
        """Wait for a background ingestion of this process to finish (tests, CLI)."""
        task = self._tasks.get(ingestion_id)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)

    # -- stopping ------------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Cancel background ingestions; their transactions roll back and their records say failed."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(BaseException):
                await self._heartbeat
            self._heartbeat = None
        tasks = list(self._tasks.items())
        for _id, task in tasks:
            task.cancel()
        for _id, task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if tasks:
            async with self.database.engine.begin() as conn:
                await repo.fail_unfinished(conn, [i for i, _ in tasks], "interrupted: the service stopped")
