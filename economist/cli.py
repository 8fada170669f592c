"""`oco economist ...`: ingest a billing file or a cloud API period with a progress bar, load exchange rates,
query costs and read ingestion records.

`ingest` and `fx-load` write to the database directly (OCO_DATABASE_URL / POSTGRES_* / the embedded SQLite
file) as the local user, so local paths are not limited by OCO_ECONOMIST_INGEST_DIRS. `costs`,
`ingestions` and `ingestion` ask a running economist service (`--url` / OCO_ECONOMIST_URL, and a key with
the `economist` scope: `--api-key`, else OCO_API_KEY, else the quick start's data/admin.key).
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
from rich.table import Table

from economist.fx.service import FxService, parse_rates_csv
from economist.ingestion.factory import SourceFactory, SourceRequestError
from economist.ingestion.runner import IngestionFailed, LedgerIngestor
from economist.ingestion.service import command_ingestion, recorded_options
from economist.settings import EconomistSettings
from oco.cli_client import ApiKeyOption, JsonOption, ServiceClient, cell, print_json, print_table
from oco.db import Database
from oco.kv import create_kv
from oco.migrations import upgrade_engine
from oco.money import money_str
from oco.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
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
    cerebra = "cerebra"


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
        options = recorded_options(options, source)  # + the files of a folder, cerebra's URL
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
        f" in {record['duration_ms'] / 1000:.1f} s" + period_note(record),
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


DEFAULT_URL = "http://127.0.0.1:8081"
Url = Annotated[str, typer.Option("--url", envvar="OCO_ECONOMIST_URL", help="the economist service")]


class Granularity(str, Enum):
    day = "day"
    week = "week"
    month = "month"


class Metric(str, Enum):
    billed = "billed"
    effective = "effective"
    list = "list"
    contracted = "contracted"


class IngestionStatus(str, Enum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


def charge_period(record: dict[str, Any]) -> tuple[str, str] | None:
    """The charge days [start, end) an ingestion covered: the API's `period` or the ledger row's
    period_start/period_end; None when the record has none."""
    period = record.get("period")
    if isinstance(period, dict) and period.get("start") and period.get("end"):
        return str(period["start"]), str(period["end"])
    if record.get("period_start") and record.get("period_end"):
        return str(record["period_start"]), str(record["period_end"])
    return None


def period_note(record: dict[str, Any]) -> str:
    """`, period START to END (end exclusive)` when the record has a period, else nothing."""
    period = charge_period(record)
    return f", period {period[0]} to {period[1]} (end exclusive)" if period else ""


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value else None


@app.command()
def costs(
    start: Annotated[
        datetime | None,
        typer.Option("--start", formats=["%Y-%m-%d"], help="first day (default: 30 days before --end)"),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option("--end", formats=["%Y-%m-%d"], help="day after the last (exclusive; default: tomorrow)"),
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help="comma list of provider, service, account, billing_account, region, resource, "
            "charge_category, tag:<key>",
        ),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter", help="dim:value terms, comma-ANDed, | for OR; e.g. provider:AWS,tag:env=prod"
        ),
    ] = None,
    granularity: Annotated[Granularity | None, typer.Option(help="one row per day, week or month")] = None,
    metric: Annotated[Metric, typer.Option(help="which cost column to sum")] = Metric.billed,
    currency: Annotated[str | None, typer.Option(help="report in this currency (loaded FX rates)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="rows per page")] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, typer.Option(min=0, help="rows to skip")] = 0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Costs grouped by dimensions and periods (GET /api/v1/costs); money exactly as the API returns it."""
    params: dict[str, Any] = {"metric": metric.value, "limit": limit, "offset": offset}
    for key, value in (
        ("from", _day(start)),
        ("to", _day(end)),
        ("group_by", group_by),
        ("filter", filter_),
        ("granularity", granularity.value if granularity else None),
        ("currency", currency),
    ):
        if value is not None:
            params[key] = value
    with ServiceClient("economist", url, api_key) as api:
        result = api.call("GET", "/api/v1/costs", params=params)
    if as_json:
        print_json(result)
        return
    print_table(costs_table(result))
    console.print(
        f"total {result['total']} {result['currency']} ({result['metric']}), "
        f"{len(result['rows'])} of {result['total_rows']} rows",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def costs_table(result: dict[str, Any]) -> Table:
    """One column per row field (period, the group-by keys) then the cost."""
    rows: list[dict[str, Any]] = result["rows"]
    fields = [name for name in (rows[0] if rows else {}) if name != "cost"]
    table = Table()
    for name in fields:
        table.add_column(name)
    table.add_column(f"cost ({result['currency']})", justify="right")
    for row in rows:
        table.add_row(*(cell(row.get(name)) for name in fields), row["cost"])
    return table


@app.command()
def ingestions(
    status: Annotated[IngestionStatus | None, typer.Option(help="only ingestions in this status")] = None,
    source: Annotated[SourceKind | None, typer.Option(help="only this source kind")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List ingestions, newest first, with the charge period each covered."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if status:
        params["status"] = status.value
    if source:
        params["source"] = source.value
    with ServiceClient("economist", url, api_key) as api:
        page = api.call("GET", "/api/v1/ingestions", params=params)
    if as_json:
        print_json(page)
        return
    table = Table("id", "source", "status", "period", "rows", "billed", "file", "created")
    for r in page["items"]:
        period = charge_period(r)
        table.add_row(
            str(r["id"]),
            r["source"],
            r["status"],
            f"{period[0]} to {period[1]}" if period else "",
            f"{r['rows']:,}",
            ", ".join(f"{amount} {code}" for code, amount in r["totals"].items()),
            cell(r["filename"]),
            r["created_at"],
        )
    print_table(table)


@app.command()
def ingestion(
    ingestion_id: Annotated[int, typer.Argument(help="the ingestion's id (oco economist ingestions)")],
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """One ingestion: status, period, rows, totals and errors."""
    with ServiceClient("economist", url, api_key) as api:
        record = api.call("GET", f"/api/v1/ingestions/{ingestion_id}")
    if as_json:
        print_json(record)
        return
    totals = ", ".join(f"{amount} {code}" for code, amount in record["totals"].items())
    console.print(
        f"ingestion {record['id']} ({record['source']}) {record['status']}: {record['rows']:,} rows"
        f" ({record['replaced_rows']:,} replaced), billed {totals or 'nothing'}" + period_note(record),
        markup=False,
        soft_wrap=True,
    )
    for error in record["errors"]:
        where = ":".join(str(p) for p in (error.get("file"), error.get("line")) if p is not None)
        column = f" column {error['column']}:" if error.get("column") else ""
        console.print(f"  {where}{column} {error['message']}".rstrip(), markup=False, soft_wrap=True)


# -- budgets and allocation -----------------------------------------------------------------------------------


class BudgetPeriod(str, Enum):
    monthly = "monthly"
    quarterly = "quarterly"


class SharedRule(str, Enum):
    proportional = "proportional"
    even = "even"
    none = "none"


def _threshold(text: str) -> dict[str, Any]:
    percent, _, basis = text.partition(":")
    try:
        return {"percent": int(percent), "on": basis or "actual"}
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not <percent>[:actual|forecast]") from None


def _tags(pairs: list[str]) -> dict[str, str] | None:
    tags = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key or not value:
            raise typer.BadParameter(f"{pair!r} is not key=value")
        tags[key] = value
    return tags or None


@app.command()
def budgets(
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List budgets by name with the current period's spend, forecast and utilization (`--json`: the list)."""
    with ServiceClient("economist", url, api_key) as api:
        page = api.call("GET", "/api/v1/budgets", params={"limit": limit, "offset": offset})
        if as_json:
            print_json(page)
            return
        statuses = [api.call("GET", f"/api/v1/budgets/{b['id']}/status") for b in page["items"]]
    table = Table("id", "name", "period", "amount", "spent", "forecast", "used", "crossed")
    for budget, status in zip(page["items"], statuses, strict=True):
        crossed = ", ".join(f"{t['percent']}% {t['on']}" for t in status["thresholds"] if t["crossed"])
        table.add_row(
            str(budget["id"]),
            budget["name"],
            f"{status['period_start']} to {status['period_end']}",
            f"{status['amount']} {status['currency']}",
            status["spent"],
            status["forecast"],
            f"{Decimal(status['utilization']) * 100:.1f}%",
            crossed,
        )
    print_table(table)


@app.command()
def budget(
    budget_id: Annotated[int, typer.Argument(help="the budget's id (oco economist budgets)")],
    at: Annotated[
        datetime | None, typer.Option("--at", formats=["%Y-%m-%d"], help="as of this day (default: today)")
    ] = None,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """One budget's period status: spent, forecast at period end, remaining and thresholds."""
    params = {"at": _day(at)} if at else {}
    with ServiceClient("economist", url, api_key) as api:
        status = api.call("GET", f"/api/v1/budgets/{budget_id}/status", params=params)
    if as_json:
        print_json(status)
        return
    console.print(
        f"budget {status['id']} {status['name']} ({status['period']}, {status['period_start']} to "
        f"{status['period_end']}, as of {status['as_of']}): spent {status['spent']} of {status['amount']} "
        f"{status['currency']}, forecast {status['forecast']}, remaining {status['remaining']}",
        markup=False,
        soft_wrap=True,
    )
    for t in status["thresholds"]:
        state = (
            f"alerted {t['alerted_at']}"
            if t["alerted_at"]
            else ("reached" if t["crossed"] else "not reached")
        )
        console.print(f"  {t['percent']}% on {t['on']} ({t['threshold_amount']}): {state}", markup=False)


@app.command("budget-create")
def budget_create(
    name: Annotated[str, typer.Option(help="unique name, e.g. team-search")],
    amount: Annotated[str, typer.Option(help="the limit per period, e.g. 1000.00")],
    period: Annotated[
        BudgetPeriod, typer.Option(help="calendar month or quarter (UTC)")
    ] = BudgetPeriod.monthly,
    currency: Annotated[
        str, typer.Option(help="ISO code; other currencies convert with loaded rates")
    ] = "USD",
    provider: Annotated[str | None, typer.Option(help="scope: only this provider")] = None,
    account: Annotated[str | None, typer.Option(help="scope: only this account")] = None,
    service: Annotated[str | None, typer.Option(help="scope: only this service")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="scope: key=value (repeatable)")] = None,
    threshold: Annotated[
        list[str] | None, typer.Option(help="<percent>[:actual|forecast] (repeatable; default 100:actual)")
    ] = None,
    webhook_url: Annotated[str | None, typer.Option(help="where threshold notifications go")] = None,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Create a budget (POST /api/v1/budgets)."""
    body: dict[str, Any] = {
        "name": name,
        "amount": amount,
        "period": period.value,
        "currency": currency,
        "scope": {"provider": provider, "account": account, "service": service, "tag": _tags(tag or [])},
        "webhook_url": webhook_url,
    }
    if threshold:
        body["thresholds"] = [_threshold(t) for t in threshold]
    with ServiceClient("economist", url, api_key) as api:
        created = api.call("POST", "/api/v1/budgets", json=body)
    if as_json:
        print_json(created)
        return
    console.print(f"created budget {created['id']} {created['name']}", markup=False)


@app.command()
def allocation(
    by: Annotated[str, typer.Option(help="the groups: a dimension such as tag:team or account")],
    start: Annotated[
        datetime | None,
        typer.Option("--start", formats=["%Y-%m-%d"], help="first day (default: 30 days before --end)"),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option("--end", formats=["%Y-%m-%d"], help="day after the last (exclusive; default: tomorrow)"),
    ] = None,
    shared: Annotated[SharedRule, typer.Option(help="how shared cost is split")] = SharedRule.proportional,
    shared_filter: Annotated[
        str | None, typer.Option("--shared-filter", help="rows that are shared cost (costs filter syntax)")
    ] = None,
    filter_: Annotated[
        str | None, typer.Option("--filter", help="only these rows (costs filter syntax)")
    ] = None,
    currency: Annotated[str | None, typer.Option(help="report in this currency (loaded FX rates)")] = None,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Showback (GET /api/v1/allocation): direct and shared cost per group, adding up to the total exactly."""
    params: dict[str, Any] = {"by": by, "shared": shared.value}
    for key, value in (
        ("from", _day(start)),
        ("to", _day(end)),
        ("shared_filter", shared_filter),
        ("filter", filter_),
        ("currency", currency),
    ):
        if value is not None:
            params[key] = value
    with ServiceClient("economist", url, api_key) as api:
        result = api.call("GET", "/api/v1/allocation", params=params)
    if as_json:
        print_json(result)
        return
    table = Table(result["by"], "direct", "shared", f"total ({result['currency']})")
    for row in result["rows"]:
        table.add_row(row["group"], row["direct"], row["shared"], row["total"])
    if result["unallocated"] != "0.000000" or not result["rows"]:
        table.add_row("(unallocated)", "", result["unallocated"], result["unallocated"])
    print_table(table)
    console.print(
        f"total {result['total']} {result['currency']}; shared {result['shared_total']}: "
        f"{result['rule']['shared_costs']}, split {result['rule']['split']}",
        markup=False,
        soft_wrap=True,
    )


# -- recommendations (GET/PATCH /api/v1/recommendations, POST .../refresh) ------------------------------------

recommendations_app = typer.Typer(
    help="Savings recommendations: list (the default), show, refresh, set-status.", no_args_is_help=False
)
app.add_typer(recommendations_app, name="recommendations")


class RecommendationStatus(str, Enum):
    open = "open"
    accepted = "accepted"
    dismissed = "dismissed"
    implemented = "implemented"


def recommendations_table(page: dict[str, Any]) -> Table:
    """One row per recommendation, largest saving first, as the API sorted them."""
    table = Table("id", "type", "resource", "account", "saving/month", "confidence", "status", "summary")
    for r in page["items"]:
        table.add_row(
            str(r["id"]),
            r["type"],
            r["resource_id"],
            cell(r["account_id"]),
            f"{r['estimated_monthly_saving']} {r['currency']}",
            r["confidence"],
            r["status"],
            r["summary"],
        )
    return table


@recommendations_app.callback(invoke_without_command=True)
def recommendations(
    ctx: typer.Context,
    type_: Annotated[str | None, typer.Option("--type", help="only this type, e.g. idle_ip")] = None,
    status: Annotated[RecommendationStatus | None, typer.Option(help="only this status")] = None,
    provider: Annotated[str | None, typer.Option(help="only this provider")] = None,
    account: Annotated[str | None, typer.Option(help="only this sub account or billing account")] = None,
    min_saving: Annotated[
        str | None, typer.Option("--min-saving", help="only those saving at least this")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List recommendations, largest monthly saving first, with the total saving of all that match."""
    if ctx.invoked_subcommand is not None:
        return
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for key, value in (
        ("type", type_),
        ("status", status.value if status else None),
        ("provider", provider),
        ("account", account),
        ("min_saving", min_saving),
    ):
        if value is not None:
            params[key] = value
    with ServiceClient("economist", url, api_key) as api:
        page = api.call("GET", "/api/v1/recommendations", params=params)
    if as_json:
        print_json(page)
        return
    print_table(recommendations_table(page))
    totals = ", ".join(f"{amount} {code}" for code, amount in page["savings_by_currency"].items())
    console.print(
        f"{len(page['items'])} of {page['total']} recommendations, saving {totals or 'nothing'} a month",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@recommendations_app.command("show")
def recommendation_show(
    recommendation_id: Annotated[int, typer.Argument(help="the recommendation's id")],
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """One recommendation with the evidence its saving was computed from."""
    with ServiceClient("economist", url, api_key) as api:
        record = api.call("GET", f"/api/v1/recommendations/{recommendation_id}")
    if as_json:
        print_json(record)
        return
    console.print(
        f"{record['id']} {record['type']} {record['resource_id']}: {record['summary']}\n"
        f"saving {record['estimated_monthly_saving']} {record['currency']} a month, confidence "
        f"{record['confidence']}, effort {record['effort']}, risk {record['risk']}; {record['status']}"
        + (f" ({record['status_reason']})" if record["status_reason"] else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for key, value in record["evidence"].items():
        if not isinstance(value, list | dict):
            console.print(f"  {key}: {cell(value)}", markup=False, highlight=False, soft_wrap=True)


@recommendations_app.command("refresh")
def recommendations_refresh(
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of", formats=["%Y-%m-%d"], help="the window ends at this day (default: after the ledger)"
        ),
    ] = None,
    billing_account: Annotated[str | None, typer.Option(help="only this billing account")] = None,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Run every rule over the ledger now; prints what was created, updated, reopened and closed."""
    body: dict[str, Any] = {}
    if as_of:
        body["as_of"] = as_of.date().isoformat()
    if billing_account:
        body["billing_account"] = billing_account
    with ServiceClient("economist", url, api_key) as api:
        result = api.call("POST", "/api/v1/recommendations/refresh", json=body)
    if as_json:
        print_json(result)
        return
    console.print(
        f"refreshed {result['window_start']} to {result['window_end']}: created {result['created']}, "
        f"updated {result['updated']}, reopened {result['reopened']}, closed {result['closed']} "
        f"in {result['duration_ms'] / 1000:.1f} s",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@recommendations_app.command("set-status")
def recommendation_set_status(
    recommendation_id: Annotated[int, typer.Argument(help="the recommendation's id")],
    status: Annotated[RecommendationStatus, typer.Argument(help="the new status")],
    reason: Annotated[str | None, typer.Option(help="why (required to dismiss)")] = None,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Accept, dismiss (--reason), mark implemented or reopen a recommendation."""
    body: dict[str, Any] = {"status": status.value}
    if reason is not None:
        body["reason"] = reason
    with ServiceClient("economist", url, api_key) as api:
        record = api.call("PATCH", f"/api/v1/recommendations/{recommendation_id}", json=body)
    if as_json:
        print_json(record)
        return
    console.print(
        f"{record['id']} is {record['status']} (by {record['status_by']} at {record['status_at']})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


# -- governance ---------------------------------------------------------------------------------------------


class ViolationStatus(str, Enum):
    open = "open"
    acknowledged = "acknowledged"
    suppressed = "suppressed"
    resolved = "resolved"


@app.command()
def violations(
    status: Annotated[ViolationStatus | None, typer.Option(help="only violations in this status")] = None,
    policy_id: Annotated[int | None, typer.Option("--policy", help="only this policy's (its id)")] = None,
    resource: Annotated[str | None, typer.Option(help="only this resource (or scope key)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Governance violations, newest first (GET /api/v1/governance/violations)."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for key, value in (
        ("status", status.value if status else None),
        ("policy_id", policy_id),
        ("resource", resource),
    ):
        if value is not None:
            params[key] = value
    with ServiceClient("economist", url, api_key) as api:
        page = api.call("GET", "/api/v1/governance/violations", params=params)
    if as_json:
        print_json(page)
        return
    table = Table("id", "policy", "resource", "status", "severity", "at stake", "last seen")
    for v in page["items"]:
        table.add_row(
            str(v["id"]),
            v["policy_name"],
            v["resource"],
            v["status"],
            v["severity"],
            f"{v['cost_at_stake']} {v['currency'] or ''}".strip(),
            v["last_seen_at"],
        )
    print_table(table)
    console.print(f"{len(page['items'])} of {page['total']} violations", markup=False, highlight=False)


@app.command()
def policies(
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Governance policies (GET /api/v1/governance/policies)."""
    with ServiceClient("economist", url, api_key) as api:
        page = api.call("GET", "/api/v1/governance/policies", params={"limit": limit, "offset": offset})
    if as_json:
        print_json(page)
        return
    table = Table("id", "name", "type", "enabled", "severity", "origin", "last evaluated")
    for p in page["items"]:
        table.add_row(
            str(p["id"]),
            p["name"],
            p["type"],
            "yes" if p["enabled"] else "no",
            p["severity"],
            p["origin"],
            cell(p["last_evaluated_at"]),
        )
    print_table(table)


@app.command("policy-evaluate")
def policy_evaluate(
    policy_id: Annotated[int, typer.Argument(help="the policy's id (oco economist policies)")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="report what it would flag, write nothing")
    ] = False,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Evaluate one policy now (POST /api/v1/governance/policies/{id}/evaluate)."""
    with ServiceClient("economist", url, api_key) as api:
        result = api.call(
            "POST",
            f"/api/v1/governance/policies/{policy_id}/evaluate",
            params={"dry_run": str(dry_run).lower()},
        )
    if as_json:
        print_json(result)
        return
    table = Table("resource", "at stake")
    for f in result["findings"]:
        table.add_row(f["resource"], f"{f['cost_at_stake']} {f['currency'] or ''}".strip())
    print_table(table)
    verb = "would open" if result["dry_run"] else "opened"
    console.print(
        f"{len(result['findings'])} findings; {verb} {len(result['opened'])}, resolved {len(result['resolved'])}",
        markup=False,
        highlight=False,
    )
