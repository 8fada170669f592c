"""`oco aegis backup|restore|list|schedule|dr`: the aegis API from a terminal, with progress bars.

The CLI talks to a running aegis service over HTTP (`--url` / OCO_AEGIS_URL, default
http://127.0.0.1:8082, and a key with the `aegis` scope: `--api-key`, else OCO_API_KEY, else the quick
start's data/admin.key), never to the database: runs then happen where the service's clusters file,
encryption key and storage credentials are, the scheduler and shutdown handling see them, and the CLI
needs no database access.
"""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from aegis.dr.cli import dr_app
from oco.cli_client import (
    ApiKeyOption,
    JsonOption,
    ServiceClient,
    cell,
    err,
    fail,
    out,
    print_json,
    print_table,
)
from oco.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

app = typer.Typer(help="Aegis: Kubernetes backup and restore (through the aegis API).", no_args_is_help=True)
schedule_app = typer.Typer(help="Cron schedules of backups, with retention.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")
app.add_typer(dr_app, name="dr")

DEFAULT_URL = "http://127.0.0.1:8082"
FINISHED = ("Completed", "PartiallyFailed", "Failed", "Deleted")

Url = Annotated[str, typer.Option("--url", envvar="OCO_AEGIS_URL", help="the aegis service")]
ApiKey = ApiKeyOption
Names = Annotated[list[str] | None, typer.Option(help="repeatable, or comma-separated; wildcards allowed")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="follow the run with a progress bar")]
Poll = Annotated[float, typer.Option("--poll-interval", help="seconds between progress checks", min=0.05)]


class ClusterResources(str, Enum):
    auto = "auto"
    true = "true"
    false = "false"


class Policy(str, Enum):
    skip = "skip"
    update = "update"


class What(str, Enum):
    backups = "backups"
    restores = "restores"
    schedules = "schedules"
    locations = "locations"
    clusters = "clusters"


def _client(url: str, api_key: str | None) -> ServiceClient:
    return ServiceClient("aegis", url, api_key)


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _follow(api: ServiceClient, path: str, label: str, poll: float) -> dict[str, Any]:
    """Poll a backup/restore until it finishes, drawing items_done/items_total. A run that does not end
    Completed leaves no bar behind: one line says how it ended, how far it got, and why."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err(), transient=False) as progress:
        task = progress.add_task(label, total=None)
        while True:
            record = api.call("GET", path)
            total = record["items_total"] or None
            progress.update(
                task,
                description=f"{label} [bold]{record['phase']}[/bold]",
                completed=record["items_done"],
                total=total,
            )
            if record["phase"] == "Completed":
                if total is None:  # nothing was counted up front: done is all there was
                    progress.update(task, total=record["items_done"], completed=record["items_done"])
                return record
            if record["phase"] in FINISHED:
                progress.remove_task(task)
                break
            time.sleep(poll)
    err().print(_ending(label, record), soft_wrap=True)
    return record


def _ending(label: str, record: dict[str, Any]) -> Text:
    """`label Failed at 3/10 items: reason`, in red (yellow for PartiallyFailed)."""
    style = "bold yellow" if record["phase"] == "PartiallyFailed" else "bold red"
    line = Text.assemble("✗ ", (record["phase"], style), f" {label} at {_progress_text(record)} items")
    if record.get("error"):
        line.append(f": {record['error']}")
    return line


def _progress_text(record: dict[str, Any]) -> str:
    return f"{record['items_done']}/{record['items_total'] or '?'}"


def _exit_for(phase: str) -> None:
    if phase != "Completed":
        raise typer.Exit(1)


@app.command()
def backup(
    cluster: Annotated[str, typer.Option(help="a cluster of OCO_AEGIS_CLUSTERS")],
    location: Annotated[str, typer.Option("--location", help="a storage location name")],
    include_namespaces: Names = None,
    exclude_namespaces: Names = None,
    include_resources: Names = None,
    exclude_resources: Names = None,
    selector: Annotated[str | None, typer.Option(help="label selector, e.g. app=web")] = None,
    include_cluster_resources: Annotated[ClusterResources, typer.Option()] = ClusterResources.auto,
    ttl_hours: Annotated[int | None, typer.Option(help="expire after N hours (0: never)")] = None,
    name: Annotated[str | None, typer.Option(help="the backup's name (default: backup-<time>)")] = None,
    wait: Wait = True,
    poll_interval: Poll = 1.0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Back up a cluster now and follow it (exit 1 unless it ends Completed)."""
    body: dict[str, Any] = {
        "cluster": cluster,
        "storage_location": location,
        "include_cluster_resources": include_cluster_resources.value,
    }
    for key, value in (
        ("included_namespaces", _split(include_namespaces)),
        ("excluded_namespaces", _split(exclude_namespaces)),
        ("included_resources", _split(include_resources)),
        ("excluded_resources", _split(exclude_resources)),
        ("label_selector", selector),
        ("ttl_hours", ttl_hours),
        ("name", name),
    ):
        if value is not None:
            body[key] = value
    record = _start(_client(url, api_key), "backups", body, "backup", wait, poll_interval)
    if as_json:
        print_json(record)
    else:
        _print_backup(record)
    if wait:
        _exit_for(record["phase"])


def _start(
    api: ServiceClient,
    collection: str,
    body: dict[str, Any],
    kind: str,
    wait: bool,
    poll_interval: float,
    note: str = "",
) -> dict[str, Any]:
    """POST a run, say it started, and follow it to the end when asked; the last record."""
    try:
        record = api.call("POST", f"/api/v1/{collection}", json=body)
        err().print(f"{kind} {record['id']} ({record['name']}){note} started")
        if wait:
            record = _follow(
                api, f"/api/v1/{collection}/{record['id']}", f"{kind} {record['name']}", poll_interval
            )
    finally:
        api.close()
    return record


def _print_backup(record: dict[str, Any]) -> None:
    out().print(
        f"backup {record['id']} {record['name']}: [bold]{record['phase']}[/bold]  "
        f"{_progress_text(record)} items  {record['size_bytes']} bytes  "
        f"sha256 {record['sha256'] or '-'}"
    )
    if record.get("error"):
        out().print(f"  error: {record['error']}", markup=False)
    for item in record.get("errors") or []:
        out().print(f"  failed: {item['item']}: {item['reason']}", markup=False)


@app.command()
def restore(
    backup_id: Annotated[int, typer.Argument(help="the backup's id (oco aegis list)")],
    cluster: Annotated[str | None, typer.Option(help="target cluster (default: the backup's)")] = None,
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="namespace mapping old=new (repeatable)")
    ] = None,
    existing_resource_policy: Annotated[Policy, typer.Option("--existing-resource-policy")] = Policy.skip,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="report what would happen, change nothing")
    ] = False,
    include_namespaces: Names = None,
    exclude_namespaces: Names = None,
    include_resources: Names = None,
    exclude_resources: Names = None,
    selector: Annotated[str | None, typer.Option(help="label selector, e.g. app=web")] = None,
    modifiers: Annotated[
        Path | None,
        typer.Option(
            "--modifiers",
            help="YAML or JSON file: a list of resource_modifiers rules, or an object with"
            " resource_modifiers and/or storage_class_mapping",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    storage_class: Annotated[
        list[str] | None, typer.Option("--storage-class", help="storage class mapping old=new (repeatable)")
    ] = None,
    wait: Wait = True,
    poll_interval: Poll = 1.0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Restore a backup (exit 1 unless it ends Completed)."""
    body: dict[str, Any] = {
        "backup_id": backup_id,
        "namespace_mapping": _pairs(map_, "--map"),
        "existing_resource_policy": existing_resource_policy.value,
        "dry_run": dry_run,
    }
    if modifiers is not None:
        body.update(_modifiers_file(modifiers))
    if storage_class:
        body["storage_class_mapping"] = {
            **body.get("storage_class_mapping", {}),
            **_pairs(storage_class, "--storage-class"),
        }
    for key, value in (
        ("cluster", cluster),
        ("included_namespaces", _split(include_namespaces)),
        ("excluded_namespaces", _split(exclude_namespaces)),
        ("included_resources", _split(include_resources)),
        ("excluded_resources", _split(exclude_resources)),
        ("label_selector", selector),
    ):
        if value is not None:
            body[key] = value
    record = _start(
        _client(url, api_key), "restores", body, "restore", wait, poll_interval, f" of backup {backup_id}"
    )
    if as_json:
        print_json(record)
    else:
        _print_restore(record)
    if wait:
        _exit_for(record["phase"])


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for pair in _split(values) or []:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise typer.BadParameter(f"{option} expects old=new, got {pair!r}")
        pairs[old] = new
    return pairs


def _modifiers_file(path: Path) -> dict[str, Any]:
    """The restore body's modifier fields from a file; the service validates the rules themselves."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="--modifiers") from None
    if isinstance(loaded, list):
        return {"resource_modifiers": loaded}
    fields = ("resource_modifiers", "storage_class_mapping")
    if not isinstance(loaded, dict) or not loaded or set(loaded) - set(fields):
        raise typer.BadParameter(
            f"{path} must hold a list of rules or an object with {' and/or '.join(fields)}",
            param_hint="--modifiers",
        )
    return {k: loaded[k] for k in fields if k in loaded}


def _print_restore(record: dict[str, Any]) -> None:
    results = record["results"]
    out().print(
        f"restore {record['id']} {record['name']}{' (dry run)' if record['dry_run'] else ''}: "
        f"[bold]{record['phase']}[/bold]  created {results['created']}  updated {results['updated']}  "
        f"unchanged {results.get('unchanged', 0)}  "
        f"skipped {results['skipped']}  failed {results['failed']}"
    )
    if record.get("error"):
        out().print(f"  error: {record['error']}", markup=False)
    for item in results.get("items") or []:
        if item["outcome"] == "failed":
            where = f"{item['namespace']}/" if item["namespace"] else ""
            out().print(
                f"  failed: {item['resource']} {where}{item['name']}: {item['message']}",
                markup=False,
                soft_wrap=True,
            )
    for report in results.get("modifiers") or []:
        out().print(
            f"  modifier {report['rule']}: matched {report['matched']}  applied {report['applied']}"
            f"  failed {report['failed']}",
            markup=False,
        )
    for warning in record.get("warnings") or []:
        out().print(f"  warning: {warning}", markup=False, soft_wrap=True)


LIST_PATHS = {
    What.backups: "/api/v1/backups",
    What.restores: "/api/v1/restores",
    What.schedules: "/api/v1/schedules",
    What.locations: "/api/v1/storage-locations",
    What.clusters: "/api/v1/clusters",
}


@app.command("list")
def list_(
    what: Annotated[What, typer.Argument()] = What.backups,
    phase: Annotated[str | None, typer.Option(help="backups/restores in this phase")] = None,
    cluster: Annotated[str | None, typer.Option(help="backups/restores of this cluster")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """List backups (default), restores, schedules, storage locations or clusters."""
    params: dict[str, Any] = {}
    if what in (What.backups, What.restores):
        params["limit"] = limit
        if phase:
            params["phase"] = phase
        if cluster:
            params["cluster"] = cluster
    with _client(url, api_key) as api:
        page = api.call("GET", LIST_PATHS[what], params=params)
    if as_json:
        print_json(page)
        return
    rows = page["items"]
    if what is What.backups:
        table = Table("id", "name", "cluster", "location", "phase", "items", "size", "created", "expires")
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["name"],
                r["cluster"],
                r["storage_location"],
                r["phase"],
                _progress_text(r),
                str(r["size_bytes"]),
                r["created_at"],
                cell(r["expires_at"]),
            )
    elif what is What.restores:
        outcomes = ("created", "updated", "unchanged", "skipped", "failed")
        table = Table("id", "name", "backup", "cluster", "phase", *outcomes)
        for r in rows:
            res = r["results"]
            table.add_row(
                str(r["id"]),
                r["name"] + (" (dry run)" if r["dry_run"] else ""),
                str(r["backup_id"]),
                r["cluster"],
                r["phase"],
                *(str(res.get(k, 0)) for k in outcomes),
            )
    elif what is What.schedules:
        table = _schedule_table(rows)
    elif what is What.locations:
        table = Table("name", "type", "where", "created")
        for r in rows:
            where = r["path"] if r["type"] == "local" else f"s3://{r['bucket']}/{r['prefix'] or ''}"
            table.add_row(r["name"], r["type"], where, r["created_at"])
    else:
        table = Table("name", "context", "reachable", "version", "error")
        for r in rows:
            context = "in-cluster" if r["in_cluster"] else (r["context"] or "")
            table.add_row(
                r["name"], context, "yes" if r["reachable"] else "no", cell(r["version"]), cell(r["error"])
            )
    print_table(table)


def _schedule_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        "id",
        "name",
        "cron",
        "tz",
        "cluster",
        "location",
        "keep",
        "enabled",
        "next run",
        "last success",
        "missed",
    )
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["name"],
            r["cron"],
            r["timezone"],
            r["cluster"],
            r["storage_location"],
            cell(r["keep_last"]),
            "yes" if r["enabled"] else "no",
            cell(r["next_run_at"]),
            cell(r["last_success_at"]),
            str(r["missed_runs"]),
        )
    return table


@schedule_app.command("create")
def schedule_create(
    name: Annotated[str, typer.Option(help="the schedule's name (lowercase letters, digits, -)")],
    cluster: Annotated[str, typer.Option(help="a cluster of OCO_AEGIS_CLUSTERS")],
    location: Annotated[str, typer.Option("--location", help="a storage location name")],
    cron: Annotated[str, typer.Option(help='5 cron fields, e.g. "0 2 * * *" (02:00 daily)')],
    timezone: Annotated[str, typer.Option(help="the time zone the cron is read in")] = "UTC",
    keep_last: Annotated[
        int | None, typer.Option(help="keep the newest N successful backups of this schedule", min=1)
    ] = None,
    ttl_hours: Annotated[
        int | None, typer.Option(help="expire each backup after N hours (0: never)", min=0)
    ] = None,
    include_namespaces: Names = None,
    exclude_namespaces: Names = None,
    include_resources: Names = None,
    exclude_resources: Names = None,
    selector: Annotated[str | None, typer.Option(help="label selector, e.g. app=web")] = None,
    include_cluster_resources: Annotated[ClusterResources, typer.Option()] = ClusterResources.auto,
    enabled: Annotated[
        bool, typer.Option("--enabled/--disabled", help="start paused with --disabled")
    ] = True,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Create a cron schedule of backups."""
    body: dict[str, Any] = {
        "name": name,
        "cluster": cluster,
        "storage_location": location,
        "cron": cron,
        "timezone": timezone,
        "enabled": enabled,
        "include_cluster_resources": include_cluster_resources.value,
    }
    for key, value in (
        ("keep_last", keep_last),
        ("ttl_hours", ttl_hours),
        ("included_namespaces", _split(include_namespaces)),
        ("excluded_namespaces", _split(exclude_namespaces)),
        ("included_resources", _split(include_resources)),
        ("excluded_resources", _split(exclude_resources)),
        ("label_selector", selector),
    ):
        if value is not None:
            body[key] = value
    with _client(url, api_key) as api:
        created = api.call("POST", "/api/v1/schedules", json=body)
    if as_json:
        print_json(created)
        return
    out().print(
        f"schedule {created['id']} {created['name']}: {created['cron']} ({created['timezone']}) "
        f"backs up {created['cluster']} to {created['storage_location']}; "
        f"next run {created['next_run_at'] or '-'}",
        markup=False,
        soft_wrap=True,
    )


@schedule_app.command("list")
def schedule_list(
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """List schedules with their next run, last success and missed runs."""
    with _client(url, api_key) as api:
        page = api.call("GET", "/api/v1/schedules")
    if as_json:
        print_json(page)
    else:
        print_table(_schedule_table(page["items"]))


@schedule_app.command("delete")
def schedule_delete(
    schedule: Annotated[str, typer.Argument(help="the schedule's id or name (oco aegis schedule list)")],
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Delete a schedule (the backups it made stay until their own retention)."""
    with _client(url, api_key) as api:
        if schedule.isdigit():
            schedule_id = int(schedule)
        else:
            found = [s for s in api.call("GET", "/api/v1/schedules")["items"] if s["name"] == schedule]
            if not found:
                fail(f"no schedule named {schedule!r}")
            schedule_id = found[0]["id"]
        api.call("DELETE", f"/api/v1/schedules/{schedule_id}")
    out().print(f"deleted schedule {schedule_id}", markup=False)


@app.command()
def rekey(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be rekeyed, change nothing")
    ] = False,
    include_unencrypted: Annotated[
        bool, typer.Option("--include-unencrypted", help="also encrypt archives written without a key")
    ] = False,
    location: Annotated[
        str | None, typer.Option("--location", help="only this storage location's archives")
    ] = None,
    wait: Wait = True,
    poll_interval: Poll = 1.0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Re-encrypt archives not on the current key to it (needs an admin key; exit 1 unless Completed)."""
    api = _client(url, api_key)
    try:
        body = {"dry_run": dry_run, "include_unencrypted": include_unencrypted, "storage_location": location}
        record = api.call("POST", "/api/v1/rekeys", json=body)
        if not dry_run:
            err().print(f"rekey {record['id']} to key {record['target_key_id']!r} started")
            if wait:
                record = _follow(
                    api, f"/api/v1/rekeys/{record['id']}", f"rekey {record['id']}", poll_interval
                )
    finally:
        api.close()
    if as_json:
        print_json(record)
    else:
        _print_rekey(record)
    if wait or dry_run:
        _exit_for(record["phase"])


def _print_rekey(record: dict[str, Any]) -> None:
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(record["counts"].items())) or "nothing to do"
    what = "dry run" if record["dry_run"] else "rekey"
    out().print(
        f"{what} {record['id']} to key {record['target_key_id']!r}: [bold]{record['phase']}[/bold]  {counts}"
    )
    if record.get("error"):
        out().print(f"  error: {record['error']}", markup=False)
    if record["items"]:
        table = Table("backup", "location", "from key", "outcome", "reason")
        for i in record["items"]:
            table.add_row(
                f"{i['backup_id']} {i['backup_name']}",
                i["storage_location"],
                i["from_key_id"] or ("(unencrypted)" if not i["encrypted"] else "(not recorded)"),
                i["outcome"],
                cell(i["reason"]),
            )
        print_table(table)
