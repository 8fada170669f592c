"""The ingestion capability: start an ingestion in the background, ingest an upload synchronously, list and
read records with live progress, and stop cleanly (running ingestions are marked failed, not left running)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date
from typing import IO, Any

from economist.ingestion import repository as repo
from economist.ingestion.factory import SourceFactory
from economist.ingestion.runner import IngestionFailed, LedgerIngestor
from economist.settings import EconomistSettings
from economist.sources import SourceProgress
from economist.sources.aws_cur import AwsCurSource
from economist.sources.azure_exports import AzureExportSource
from economist.sources.focus import open_focus_source
from oco.db import Database

log = logging.getLogger("economist.ingestion")

UPLOAD_SOURCES = ("focus", "aws_cur", "azure_export")


class IngestionService:
    """One per process: owns the background tasks and the live progress of the ingestions it runs."""

    def __init__(self, database: Database, settings: EconomistSettings, factory: SourceFactory) -> None:
        self.database = database
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
        ingestion_id = await self.ingestor.create_record(
            source=kind,
            status="pending",
            period=period,
            options=options,
            filename=str(options.get("path") or options.get("key") or "") or None,
            created_by=created_by,
        )
        self.live[ingestion_id] = SourceProgress()
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

    def _progress(self, ingestion_id: int) -> Any:
        def update(_rows: int, progress: SourceProgress) -> None:
            self.live[ingestion_id] = progress

        return update

    async def upload(
        self, stream: IO[bytes], filename: str, *, kind: str = "focus", created_by: str | None
    ) -> dict[str, Any]:
        """Ingest an uploaded file now; return the succeeded record or raise IngestionFailed."""
        if kind not in UPLOAD_SOURCES:
            raise ValueError(f"uploads accept {', '.join(UPLOAD_SOURCES)}")
        if kind == "focus":
            source: Any = open_focus_source(stream, filename=filename)
        elif kind == "aws_cur":
            source = AwsCurSource(stream, filename=filename)
        else:
            source = AzureExportSource(stream, filename=filename)
        ingestion_id = await self.ingestor.create_record(
            source=kind,
            status="running",
            period=None,
            options={"upload": True},
            filename=filename,
            created_by=created_by,
        )
        self.live[ingestion_id] = SourceProgress()
        try:
            async with self._slots:
                return await self.ingestor.run(
                    ingestion_id,
                    source,
                    source_kind=kind,
                    window=None,
                    on_progress=self._progress(ingestion_id),
                )
        finally:
            self.live.pop(ingestion_id, None)

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
        self, *, limit: int, offset: int, source: str | None = None, status: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            records, total = await repo.list_ingestions(
                conn, limit=limit, offset=offset, source=source, status=status
            )
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
        tasks = list(self._tasks.items())
        for _id, task in tasks:
            task.cancel()
        for _id, task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if tasks:
            async with self.database.engine.begin() as conn:
                await repo.fail_unfinished(conn, [i for i, _ in tasks], "interrupted: the service stopped")
