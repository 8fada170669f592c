"""`oco aegis backup|restore|list`: the aegis API from a terminal, with progress bars.

The CLI talks to a running aegis service over HTTP (`--url` / OCO_AEGIS_URL, default
http://127.0.0.1:8082, and `--api-key` / OCO_API_KEY, a key with the `aegis` scope), never to the
database: runs then happen where the service's clusters file, encryption key and storage credentials
are, the scheduler and shutdown handling see them, and the CLI needs no database access.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

app = typer.Typer(help="Aegis: Kubernetes backup and restore (through the aegis API).", no_args_is_help=True)


def _out() -> Console:
    return Console()  # built per call, so COLUMNS and redirections are read when the command runs


def _err() -> Console:
    return Console(stderr=True)


DEFAULT_URL = "http://127.0.0.1:8082"
FINISHED = ("Completed", "PartiallyFailed", "Failed", "Deleted")

Url = Annotated[str, typer.Option("--url", envvar="OCO_AEGIS_URL", help="the aegis service")]
ApiKey = Annotated[
    str,
    typer.Option(
        "--api-key", envvar="OCO_API_KEY", help="an API key with the aegis scope", show_default=False
    ),
]
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


class Api:
    """A small synchronous client of the aegis API; an error answer prints its message and exits 1."""

    def __init__(self, url: str, api_key: str) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/"), headers={"X-API-Key": api_key}, timeout=30.0)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            _fail(f"cannot reach the aegis service at {self.client.base_url}: {exc}")
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:300] or response.reason_phrase
            _fail(f"{response.status_code}: {message}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.client.close()


def _fail(message: str) -> NoReturn:
    _err().print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _follow(api: Api, path: str, label: str, poll: float) -> dict[str, Any]:
    """Poll a backup/restore until it finishes, drawing items_done/items_total."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_err(), transient=False) as progress:
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
            if record["phase"] in FINISHED:
                if total is None:
                    progress.update(
                        task, total=record["items_done"] or 1, completed=record["items_done"] or 1
                    )
                return record
            time.sleep(poll)


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
    url: Url = DEFAULT_URL,
    api_key: ApiKey = "",
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
    record = _start(Api(url, api_key), "backups", body, "backup", wait, poll_interval)
    _print_backup(record)
    if wait:
        _exit_for(record["phase"])


def _start(
    api: Api,
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
        _err().print(f"{kind} {record['id']} ({record['name']}){note} started")
        if wait:
            record = _follow(
                api, f"/api/v1/{collection}/{record['id']}", f"{kind} {record['name']}", poll_interval
            )
    finally:
        api.close()
    return record


def _print_backup(record: dict[str, Any]) -> None:
    _out().print(
        f"backup {record['id']} {record['name']}: [bold]{record['phase']}[/bold]  "
        f"{record['items_done']}/{record['items_total']} items  {record['size_bytes']} bytes  "
        f"sha256 {record['sha256'] or '-'}"
    )
    if record.get("error"):
        _out().print(f"  error: {record['error']}")
    for item in record.get("errors") or []:
        _out().print(f"  failed: {item['item']}: {item['reason']}")


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
    wait: Wait = True,
    poll_interval: Poll = 1.0,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = "",
) -> None:
    """Restore a backup (exit 1 unless it ends Completed)."""
    mapping: dict[str, str] = {}
    for pair in _split(map_) or []:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise typer.BadParameter(f"--map expects old=new, got {pair!r}")
        mapping[old] = new
    body: dict[str, Any] = {
        "backup_id": backup_id,
        "namespace_mapping": mapping,
        "existing_resource_policy": existing_resource_policy.value,
        "dry_run": dry_run,
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
        Api(url, api_key), "restores", body, "restore", wait, poll_interval, f" of backup {backup_id}"
    )
    _print_restore(record)
    if wait:
        _exit_for(record["phase"])


def _print_restore(record: dict[str, Any]) -> None:
    results = record["results"]
    _out().print(
        f"restore {record['id']} {record['name']}{' (dry run)' if record['dry_run'] else ''}: "
        f"[bold]{record['phase']}[/bold]  created {results['created']}  updated {results['updated']}  "
        f"skipped {results['skipped']}  failed {results['failed']}"
    )
    if record.get("error"):
        _out().print(f"  error: {record['error']}")
    for item in results.get("items") or []:
        if item["outcome"] == "failed":
            where = f"{item['namespace']}/" if item["namespace"] else ""
            _out().print(f"  failed: {item['resource']} {where}{item['name']}: {item['message']}")


@app.command("list")
def list_(
    what: Annotated[What, typer.Argument()] = What.backups,
    phase: Annotated[str | None, typer.Option(help="backups/restores in this phase")] = None,
    cluster: Annotated[str | None, typer.Option(help="backups/restores of this cluster")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = "",
) -> None:
    """List backups (default), restores, schedules, storage locations or clusters."""
    params: dict[str, Any] = {"limit": limit}
    if phase:
        params["phase"] = phase
    if cluster:
        params["cluster"] = cluster
    api = Api(url, api_key)
    try:
        if what is What.backups:
            table = Table("id", "name", "cluster", "location", "phase", "items", "size", "created", "expires")
            for r in api.call("GET", "/api/v1/backups", params=params)["items"]:
                table.add_row(
                    str(r["id"]),
                    r["name"],
                    r["cluster"],
                    r["storage_location"],
                    r["phase"],
                    f"{r['items_done']}/{r['items_total']}",
                    str(r["size_bytes"]),
                    r["created_at"],
                    r["expires_at"] or "",
                )
        elif what is What.restores:
            table = Table(
                "id", "name", "backup", "cluster", "phase", "created", "updated", "skipped", "failed"
            )
            for r in api.call("GET", "/api/v1/restores", params=params)["items"]:
                res = r["results"]
                table.add_row(
                    str(r["id"]),
                    r["name"] + (" (dry run)" if r["dry_run"] else ""),
                    str(r["backup_id"]),
                    r["cluster"],
                    r["phase"],
                    *(str(res[k]) for k in ("created", "updated", "skipped", "failed")),
                )
        elif what is What.schedules:
            table = Table(
                "id", "name", "cron", "tz", "cluster", "enabled", "next run", "last success", "missed"
            )
            for r in api.call("GET", "/api/v1/schedules")["items"]:
                table.add_row(
                    str(r["id"]),
                    r["name"],
                    r["cron"],
                    r["timezone"],
                    r["cluster"],
                    "yes" if r["enabled"] else "no",
                    r["next_run_at"] or "",
                    r["last_success_at"] or "",
                    str(r["missed_runs"]),
                )
        elif what is What.locations:
            table = Table("name", "type", "where", "created")
            for r in api.call("GET", "/api/v1/storage-locations")["items"]:
                where = r["path"] if r["type"] == "local" else f"s3://{r['bucket']}/{r['prefix'] or ''}"
                table.add_row(r["name"], r["type"], where, r["created_at"])
        else:
            table = Table("name", "context", "reachable", "version", "error")
            for r in api.call("GET", "/api/v1/clusters")["items"]:
                context = "in-cluster" if r["in_cluster"] else (r["context"] or "")
                table.add_row(
                    r["name"],
                    context,
                    "yes" if r["reachable"] else "no",
                    r["version"] or "",
                    r["error"] or "",
                )
    finally:
        api.close()
    _out().print(table)
