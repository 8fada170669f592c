"""Loading the bundled FOCUS sample into the ledger (`oco demo load`), then reading back what it covers:
the charge period and the cost per provider the costs API reports for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from economist.costs.params import CostQuery, Dimension
from economist.costs.service import CostService
from economist.demo import SAMPLE_NAME, sample_path
from economist.ingestion.runner import LedgerIngestor
from economist.ingestion.service import command_ingestion
from economist.settings import EconomistSettings
from economist.sources import open_focus_source
from oco.db import Database
from oco.kv import MemoryKV
from oco.migrations import upgrade_engine

#: the metric GET /api/v1/costs reports when none is asked for
DEFAULT_METRIC = "billed"


@dataclass(frozen=True)
class DemoLoad:
    """What `oco demo load` did: the ingestion, the charge days [start, end) it covers and the ledger's
    cost per provider over those days (`metric`, in `currency`)."""

    ingestion_id: int
    rows: int
    replaced_rows: int
    start: date
    end: date
    metric: str
    currency: str
    by_provider: dict[str, Decimal]
    total: Decimal


async def load_sample(settings: EconomistSettings) -> DemoLoad:
    """Ingest the bundled sample into the database of `settings` (migrated to head first, as `oco run`
    does). Loading it again replaces the earlier load (same origin and content), never adds to it."""
    database = Database(settings.database_url, pool_size=2)
    try:
        await upgrade_engine(database.engine)
        return await _load(database, settings)
    finally:
        await database.dispose()


async def _load(database: Database, settings: EconomistSettings) -> DemoLoad:
    path = sample_path()
    ingestor = LedgerIngestor(
        database,
        normalizer=settings.tag_normalizer,
        batch_size=settings.oco_economist_batch_size,
        progress_interval_s=settings.oco_economist_progress_interval_s,
    )
    options = {"path": str(path)}
    async with command_ingestion(
        database,
        settings,
        MemoryKV(),
        source="focus",
        period=None,
        options=options,
        filename=SAMPLE_NAME,
        created_by="demo",
    ) as ingestion_id:
        record = await ingestor.run(ingestion_id, open_focus_source(path), source_kind="focus", window=None)
    start, end = record["period_start"], record["period_end"]
    if start is None or end is None:
        raise RuntimeError(f"ingestion {ingestion_id} recorded no charge period")
    costs = CostService(database, settings.oco_economist_default_currency)
    result = await costs.query(
        CostQuery(start=start, end=end, metric=DEFAULT_METRIC, group_by=(Dimension("provider"),))
    )
    return DemoLoad(
        ingestion_id=ingestion_id,
        rows=record["row_count"],
        replaced_rows=record["replaced_rows"],
        start=start,
        end=end,
        metric=result.metric,
        currency=result.currency,
        by_provider={row["provider"]: row["cost"] for row in result.rows},
        total=result.total,
    )
