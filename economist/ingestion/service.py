"""The ingestion capability: start an ingestion in the background, ingest an upload synchronously, list and
read records with live progress, and stop cleanly (running ingestions are marked failed, not left running).

Liveness is oco.runs's (owner lease, heartbeat, reaping dead processes' records at start-up and
periodically, marking interrupted on stop): INGESTION_RUNS describes the `ingestions` table to it, and
`command_ingestion` registers an ingestion a one-shot command (`oco economist ingest`) runs, so a running
service never reaps it while it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import IO, Any

from economist.ingestion import repository as repo
from economist.ingestion.factory import SourceFactory
from economist.ingestion.runner import IngestionFailed, LedgerIngestor
from economist.ledger.tables import ingestions
from economist.settings import EconomistSettings
from economist.sources import SourceProgress
from economist.sources.aws_cur import AwsCurSource
from economist.sources.azure_exports import AzureExportSource
from economist.sources.cerebra import CerebraSource
from economist.sources.focus import open_focus_source
from economist.sources.multi import MultiFileSource
from oco.db import Database
from oco.kv import KV, MemoryKV
from oco.pagination import PageParams
from oco.runs import OwnerLease, RunTable, RunTracker, detached_tracker

log = logging.getLogger("economist.ingestion")

#: A coroutine called with the succeeded ingestion record.
AfterIngestion = Callable[[dict[str, Any]], Awaitable[None]]

UPLOAD_SOURCES = ("focus", "aws_cur", "azure_export")
UNFINISHED = ("pending", "running")
INTERRUPTED = "interrupted: the process running it stopped (crash or kill)"
STOPPED = "interrupted: the service stopped"


def _overlay(record: dict[str, Any], progress: SourceProgress) -> dict[str, Any]:
    return {
        **record,
        "rows_read": max(progress.rows_read, record["rows_read"] or 0),
        "bytes_read": max(progress.bytes_read, record["bytes_read"] or 0),
        "bytes_total": progress.bytes_total if progress.bytes_total is not None else record["bytes_total"],
    }


#: The `ingestions` table as oco.runs sees it (progress reaches the row through the ingestor itself).
INGESTION_RUNS = RunTable(
    table=ingestions,
    kind="ingestion",
    unfinished=UNFINISHED,
    failed="failed",
    error_values=lambda message: {"errors": [{"message": message}]},
    interrupted=INTERRUPTED,
    stopped=STOPPED,
    overlay=_overlay,
)


class IngestionService:
    """One per process: owns the background tasks and the live progress of the ingestions it runs."""

    def __init__(
        self,
        database: Database,
        settings: EconomistSettings,
        factory: SourceFactory,
        *,
        kv: KV | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.factory = factory
        stale_after_s = settings.oco_economist_stale_after_s
        self.lease = OwnerLease(kv or MemoryKV(), ttl_s=stale_after_s)
        self.tracker = RunTracker(
            database,
            INGESTION_RUNS,
            lease=self.lease,
            max_concurrent=settings.oco_economist_max_concurrent_ingestions,
            progress_interval_s=settings.oco_economist_progress_interval_s,
            heartbeat_interval_s=stale_after_s / 4,
            stale_after_s=stale_after_s,
        )
        self.ingestor = _ingestor(database, settings)
        #: Called with the succeeded record after every ingestion this process ran (recommendations,
        #: governance, ...). A hook that raises is logged; the ingestion stays succeeded.
        self.after_success: list[AfterIngestion] = []

    # -- starting ------------------------------------------------------------------------------------------

    async def start(
        self, kind: str, period: tuple[date, date] | None, options: dict[str, Any], *, created_by: str | None
    ) -> dict[str, Any]:
        """Validate, build the source, record a pending ingestion and run it in the background.
        Raises SourceRequestError for a request that cannot run."""
        source = await asyncio.to_thread(self.factory.build, kind, period, options, trusted=False)
        options = recorded_options(options, source)
        ingestion_id = await self._create_record(
            source=kind,
            status="pending",
            period=period,
            options=options,
            filename=str(options.get("path") or options.get("key") or "") or None,
            created_by=created_by,
        )

        async def run(_cancel: Any, progress: Any) -> None:
            try:
                record = await self.ingestor.run(
                    ingestion_id,
                    source,
                    source_kind=kind,
                    window=period,
                    on_progress=lambda _rows, read: progress(read),
                )
            except IngestionFailed as exc:  # recorded by the ingestor
                log.info("ingestion %s failed: %s", ingestion_id, exc)
                return
            await self._after_success(record)

        self.tracker.launch(ingestion_id, run)
        record = await self.get(ingestion_id)
        assert record is not None
        return record

    async def upload(
        self,
        files: Sequence[tuple[IO[bytes], str]],
        *,
        kind: str = "focus",
        created_by: str | None,
        replace_key: str | None = None,
    ) -> dict[str, Any]:
        """Ingest uploaded files (seekable streams and their names) now, as ONE load (the parts of one export);
        return the succeeded record or raise IngestionFailed. Its origin is the filename of a single file,
        `files:upload` for several (or `replace_key`), see slices.py."""
        if kind not in UPLOAD_SOURCES:
            raise ValueError(f"uploads accept {', '.join(UPLOAD_SOURCES)}")
        if not files:
            raise ValueError("no file to ingest")
        sources = [_upload_source(kind, stream, filename) for stream, filename in files]
        options: dict[str, Any] = {"upload": True}
        if len(files) > 1:
            options["files"] = [filename for _stream, filename in files]
        if replace_key:
            options["replace_key"] = replace_key
        source: Any = (
            sources[0]
            if len(sources) == 1
            else MultiFileSource(kind, sources, names=[name for _stream, name in files])
        )
        ingestion_id = await self._create_record(
            source=kind,
            status="running",
            period=None,
            options=options,
            filename=files[0][1] if len(files) == 1 else ", ".join(name for _s, name in files)[:1000],
            created_by=created_by,
        )
        async with self.tracker.hold(ingestion_id) as progress, self.tracker.slots:
            record = await self.ingestor.run(
                ingestion_id,
                source,
                source_kind=kind,
                window=None,
                on_progress=lambda _rows, read: progress(read),
            )
        await self._after_success(record)
        return record

    async def _after_success(self, record: dict[str, Any]) -> None:
        for hook in self.after_success:
            try:
                await hook(record)
            except Exception:
                log.exception("a hook after ingestion %s failed", record.get("id"))

    async def _create_record(self, **values: Any) -> int:
        """Insert the record, naming this process its owner before the insert commits."""
        async with self.database.engine.begin() as conn:
            ingestion_id = await repo.create_ingestion(conn, **values)
            await self.tracker.claim(conn, ingestion_id)
        return ingestion_id

    # -- liveness ------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Start-up: register the owner lease, mark dead processes' unfinished ingestions failed, then start
        the heartbeat/reaper loop."""
        try:
            await self.lease.refresh()
        except Exception:  # kv down: heartbeats still protect our records; the loop retries the lease
            log.warning("could not register the owner lease of ingestions", exc_info=True)
        try:
            await self.reap(startup=True)
        except Exception:  # the service still starts; the loop tries again
            log.warning("could not reap interrupted ingestions at start-up", exc_info=True)
        self.tracker.start()

    async def reap(self, *, startup: bool = False) -> list[int]:
        """Mark failed "interrupted" the unfinished records of dead processes (oco.runs); their ids."""
        return await self.tracker.reap(startup=startup)

    # -- reading -------------------------------------------------------------------------------------------

    async def get(self, ingestion_id: int) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            record = await repo.get_ingestion(conn, ingestion_id)
        return self.tracker.overlay(record) if record else None

    async def list(
        self, page: PageParams, *, source: str | None = None, status: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            records, total = await repo.list_ingestions(conn, page, source=source, status=status)
        return [self.tracker.overlay(r) for r in records], total

    async def wait(self, ingestion_id: int) -> None:
        """Wait for a background ingestion of this process to finish (tests, CLI)."""
        await self.tracker.wait(ingestion_id)

    # -- stopping ------------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Cancel background ingestions; their transactions roll back and their records say failed."""
        await self.tracker.stop(0)
        with contextlib.suppress(Exception):  # expires by itself
            await self.lease.release()


def recorded_options(options: dict[str, Any], source: Any) -> dict[str, Any]:
    """The options a record keeps: for a folder or manifest, also the names of the files loaded (`files`),
    for cerebra its base URL (`url`, never the key): they make the load's origin and members (slices.py)."""
    if isinstance(source, MultiFileSource) and "files" not in options:
        return {**options, "files": list(source.names)}
    if isinstance(source, CerebraSource):
        return {**options, "url": source.base_url}
    return options


def _upload_source(kind: str, stream: IO[bytes], filename: str) -> Any:
    if kind == "focus":
        return open_focus_source(stream, filename=filename)
    if kind == "aws_cur":
        return AwsCurSource(stream, filename=filename)
    return AzureExportSource(stream, filename=filename)


def _ingestor(database: Database, settings: EconomistSettings) -> LedgerIngestor:
    return LedgerIngestor(
        database,
        normalizer=settings.tag_normalizer,
        batch_size=settings.oco_economist_batch_size,
        progress_interval_s=settings.oco_economist_progress_interval_s,
    )


@asynccontextmanager
async def command_ingestion(
    database: Database,
    settings: EconomistSettings,
    kv: KV,
    *,
    source: str,
    period: tuple[date, date] | None,
    options: dict[str, Any],
    filename: str | None,
    created_by: str | None,
) -> AsyncIterator[int]:
    """Record a pending ingestion run by a one-shot command (not the service) and yield its id; run it with
    LedgerIngestor.run inside. Its record carries the command's owner lease and a heartbeat kept fresh
    until the block ends (oco.runs.detached_tracker), so a running economist never reaps it as
    interrupted while it writes; left by an exception, it ends failed."""
    async with detached_tracker(
        database, INGESTION_RUNS, kv, stale_after_s=settings.oco_economist_stale_after_s
    ) as tracker:
        async with database.engine.begin() as conn:
            ingestion_id = await repo.create_ingestion(
                conn,
                source=source,
                status="pending",
                period=period,
                options=options,
                filename=filename,
                created_by=created_by,
            )
            await tracker.claim(conn, ingestion_id)
        async with tracker.hold(ingestion_id):
            yield ingestion_id
