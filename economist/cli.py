"""`oco economist ...`: ingest a billing file or a cloud API period with a progress bar, load exchange rates.

The CLI writes to the database directly (OCO_DATABASE_URL / POSTGRES_* / the embedded SQLite file) as the
local user, so local paths are not limited by OCO_ECONOMIST_INGEST_DIRS.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from economist.fx.service import FxService, parse_rates_csv
from economist.ingestion.factory import SourceFactory, SourceRequestError
from economist.ingestion.runner import IngestionFailed, LedgerIngestor
from economist.ingestion.service import command_ingestion
from economist.settings import EconomistSettings
from oco.db import Database
from oco.kv import create_kv
from oco.migrations import upgrade_engine
from oco.money import money_str
from oco.settings import SettingsError

app = typer.Typer(help="Economist: load billing data into the cost ledger.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


class SourceKind(str, Enum):
    focus = "focus"
    aws_cost_explorer = "aws_cost_explorer"
    aws_cur = "aws_cur"
    azure_cost = "azure_cost"
    azure_export = "azure_export"
    gcp_bigquery = "gcp_bigquery"


def _settings() -> EconomistSettings:
    settings = EconomistSettings()
    try:
        _ = settings.database_url
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return settings


def _options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--option")
        options[key.strip()] = value
    return options


async def _ingest(
    settings: EconomistSettings,
    kind: str,
    period: tuple[date, date] | None,
    options: dict[str, Any],
    progress: Progress,
) -> dict[str, Any]:
    database = Database(settings.database_url, pool_size=2)
    kv = create_kv(settings.resolved_redis_url)
    try:
        if settings.is_embedded_database:
            await upgrade_engine(database.engine)
        source = await asyncio.to_thread(SourceFactory(settings).build, kind, period, options, trusted=True)
        ingestor = LedgerIngestor(
            database,
            normalizer=settings.tag_normalizer,
            batch_size=settings.oco_economist_batch_size,
            progress_interval_s=settings.oco_economist_progress_interval_s,
        )
        name = str(options.get("path") or options.get("key") or "") or None
        # the record carries this command's owner lease and heartbeat: a running economist never reaps it
        async with command_ingestion(
            database,
            settings,
            kv,
            source=kind,
            period=period,
            options=options,
            filename=name,
            created_by="cli",
        ) as ingestion_id:
            task = progress.add_task(f"ingestion {ingestion_id} ({kind})", total=None, rows=0)

            def on_progress(rows: int, read: Any) -> None:
                progress.update(task, completed=read.bytes_read, total=read.bytes_total, rows=rows)

            record = await ingestor.run(
                ingestion_id, source, source_kind=kind, window=period, on_progress=on_progress
            )
        progress.update(
            task, completed=record["bytes_read"], total=record["bytes_total"] or record["bytes_read"]
        )
        return record
    finally:
        await database.dispose()
        await kv.close()


@app.command()
def ingest(
    path: Annotated[
        Path | None, typer.Argument(help="a billing file (FOCUS by default: CSV, CSV.gz, Parquet)")
    ] = None,
    source: Annotated[SourceKind, typer.Option("--source", help="the source kind")] = SourceKind.focus,
    start: Annotated[
        datetime | None, typer.Option("--start", formats=["%Y-%m-%d"], help="first charge day")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--end", formats=["%Y-%m-%d"], help="day after the last (exclusive)")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="source option key=value (repeatable)")
    ] = None,
) -> None:
    """Ingest PATH (a FOCUS file unless --source says otherwise) or a cloud API period (--start/--end)."""
    settings = _settings()
    options = _options(option or [])
    if path is not None:
        options["path"] = str(path)
    if (start is None) != (end is None):
        raise typer.BadParameter("give both --start and --end", param_hint="--start/--end")
    period = (start.date(), end.date()) if start and end else None
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=False) as progress:
            record = asyncio.run(_ingest(settings, source.value, period, options, progress))
    except SourceRequestError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    except IngestionFailed as exc:
        if exc.row_error is not None:
            bad = exc.row_error
            err.print(
                f"{bad.file}:{bad.line}: column {bad.column}: {bad.message}", markup=False, highlight=False
            )
        else:
            err.print(f"ingestion {exc.ingestion_id} failed: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    totals = ", ".join(f"{money_str(Decimal(v))} {c}" for c, v in record["totals"].items())
    console.print(
        f"ingestion {record['id']} succeeded: {record['row_count']:,} rows"
        f" ({record['replaced_rows']:,} replaced), billed {totals or 'nothing'}"
        f" in {record['duration_ms'] / 1000:.1f} s",
        soft_wrap=True,
    )


@app.command("fx-load")
def fx_load(
    file: Annotated[
        Path, typer.Argument(help="CSV with the header date,base,quote,rate", exists=True, dir_okay=False)
    ],
    source: Annotated[
        str | None, typer.Option("--source", help="where the rates come from, e.g. ECB")
    ] = None,
) -> None:
    """Load dated exchange rates (1 base = rate quote) from a CSV file."""
    settings = _settings()
    try:
        rates = parse_rates_csv(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        err.print(f"{file}: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None

    async def load() -> int:
        database = Database(settings.database_url, pool_size=1)
        try:
            if settings.is_embedded_database:
                await upgrade_engine(database.engine)
            return await FxService(database).load(rates, source or file.name)
        finally:
            await database.dispose()

    console.print(f"loaded {asyncio.run(load())} rates from {file}")
