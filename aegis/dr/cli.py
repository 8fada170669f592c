"""`oco aegis dr plans|plan|status|drill|drills|failover|failback`: DR plans, drills and runbooks from a
terminal, through the aegis API (the same `--url` / `--api-key` as the other aegis commands)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

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

dr_app = typer.Typer(
    help="Disaster recovery: plans, compliance, drills, failover and failback.", no_args_is_help=True
)
plan_app = typer.Typer(help="Create, show or delete a DR plan.", no_args_is_help=True)
dr_app.add_typer(plan_app, name="plan")

DEFAULT_URL = "http://127.0.0.1:8082"
Url = Annotated[str, typer.Option("--url", envvar="OCO_AEGIS_URL", help="the aegis service")]
PlanRef = Annotated[str, typer.Argument(help="the plan's id or name (oco aegis dr plans)")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="follow the run to its end")]
Poll = Annotated[float, typer.Option("--poll-interval", help="seconds between checks", min=0.05)]
Limit = Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)]


def _client(url: str, api_key: str | None) -> ServiceClient:
    return ServiceClient("aegis", url, api_key)


def _plan_id(api: ServiceClient, ref: str) -> int:
    if ref.isdigit():
        return int(ref)
    offset = 0
    while True:
        page = api.call("GET", "/api/v1/dr/plans", params={"limit": MAX_PAGE_SIZE, "offset": offset})
        for plan in page["items"]:
            if plan["name"] == ref:
                return int(plan["id"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            fail(f"no DR plan named {ref!r}")


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


@dr_app.command("plans")
def plans(
    limit: Limit = DEFAULT_PAGE_SIZE,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List DR plans."""
    with _client(url, api_key) as api:
        page = api.call("GET", "/api/v1/dr/plans", params={"limit": limit})
    if as_json:
        print_json(page)
        return
    table = Table("id", "name", "source", "target", "namespaces", "rpo", "rto", "active", "enabled")
    for p in page["items"]:
        table.add_row(
            str(p["id"]),
            p["name"],
            p["source_cluster"],
            p["target_cluster"],
            ",".join(p["included_namespaces"]),
            f"{p['rpo_minutes']}m",
            f"{p['rto_minutes']}m",
            p["active_cluster"],
            "yes" if p["enabled"] else "no",
        )
    print_table(table)


@plan_app.command("create")
def plan_create(
    name: Annotated[str, typer.Option(help="the plan's name")],
    source: Annotated[str, typer.Option("--source", help="source cluster")],
    target: Annotated[str, typer.Option("--target", help="target (DR) cluster")],
    namespaces: Annotated[list[str], typer.Option("--namespaces", help="repeatable or comma-separated")],
    location: Annotated[str, typer.Option("--location", help="storage location of the backups")],
    rpo_minutes: Annotated[int, typer.Option(min=1)],
    rto_minutes: Annotated[int, typer.Option(min=1)],
    backup_schedule: Annotated[str | None, typer.Option(help="cron of the backups the plan owns")] = None,
    schedule_id: Annotated[int | None, typer.Option(help="or an existing schedule")] = None,
    selector: Annotated[str | None, typer.Option(help="label selector")] = None,
    drill_schedule: Annotated[str | None, typer.Option(help="cron of automatic drills")] = None,
    readiness: Annotated[bool, typer.Option("--readiness/--no-readiness", help="wait for workloads")] = True,
    readiness_timeout_s: Annotated[int, typer.Option(min=1)] = 600,
    remediate: Annotated[bool, typer.Option(help="back up at once when the RPO is breached")] = False,
    owner: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Create a DR plan."""
    body: dict[str, Any] = {
        "name": name,
        "source_cluster": source,
        "target_cluster": target,
        "included_namespaces": _split(namespaces),
        "storage_location": location,
        "rpo_minutes": rpo_minutes,
        "rto_minutes": rto_minutes,
        "readiness": {"workloads_available": readiness, "timeout_s": readiness_timeout_s},
        "remediate": remediate,
    }
    for key, value in (
        ("backup_schedule", backup_schedule),
        ("schedule_id", schedule_id),
        ("label_selector", selector),
        ("drill_schedule", drill_schedule),
        ("owner", owner),
    ):
        if value is not None:
            body[key] = value
    with _client(url, api_key) as api:
        plan = api.call("POST", "/api/v1/dr/plans", json=body)
    if as_json:
        print_json(plan)
    else:
        out().print(
            f"plan {plan['id']} {plan['name']}: {plan['source_cluster']} -> {plan['target_cluster']}",
            markup=False,
        )


@plan_app.command("show")
def plan_show(
    plan: PlanRef, as_json: JsonOption = False, url: Url = DEFAULT_URL, api_key: ApiKeyOption = None
) -> None:
    """One DR plan."""
    with _client(url, api_key) as api:
        record = api.call("GET", f"/api/v1/dr/plans/{_plan_id(api, plan)}")
    if as_json:
        print_json(record)
        return
    for key in (
        "id",
        "name",
        "source_cluster",
        "target_cluster",
        "included_namespaces",
        "label_selector",
        "storage_location",
        "backup_schedule",
        "schedule_id",
        "rpo_minutes",
        "rto_minutes",
        "readiness",
        "drill_schedule",
        "next_drill_at",
        "remediate",
        "active_cluster",
        "owner",
        "enabled",
    ):
        out().print(f"{key}: {cell(record[key])}", markup=False)


@plan_app.command("delete")
def plan_delete(plan: PlanRef, url: Url = DEFAULT_URL, api_key: ApiKeyOption = None) -> None:
    """Delete a DR plan (its backups stay; the schedule it owns goes)."""
    with _client(url, api_key) as api:
        plan_id = _plan_id(api, plan)
        api.call("DELETE", f"/api/v1/dr/plans/{plan_id}")
    out().print(f"deleted DR plan {plan_id}", markup=False)


@dr_app.command("status")
def status(
    plan: PlanRef, as_json: JsonOption = False, url: Url = DEFAULT_URL, api_key: ApiKeyOption = None
) -> None:
    """A plan's compliance now: achieved RPO and its status, the newest drill's RTO."""
    with _client(url, api_key) as api:
        record = api.call("GET", f"/api/v1/dr/plans/{_plan_id(api, plan)}/status")
    if as_json:
        print_json(record)
        return
    rpo = "-" if record["achieved_rpo_s"] is None else f"{record['achieved_rpo_s']:.0f}s"
    out().print(
        f"{record['plan']}: RPO [bold]{record['rpo_status']}[/bold] ({rpo} of {record['rpo_target_s']}s, last backup"
        f" {cell(record['last_backup_at'])}); RTO [bold]{record['rto_status']}[/bold]"
    )
    drill = record["last_drill"]
    if drill:
        rto = "-" if drill["achieved_rto_s"] is None else f"{drill['achieved_rto_s']:.1f}s"
        out().print(
            f"  last drill {drill['id']}: {drill['phase']}, RTO {rto}, passed {cell(drill['passed'])}",
            markup=False,
        )


def _steps_table(run: dict[str, Any]) -> Table:
    table = Table("step", "status", "seconds", "detail")
    for step in run["steps"]:
        table.add_row(step["name"], step["status"], cell(step.get("duration_s")), cell(step.get("detail")))
    return table


def _follow(api: ServiceClient, path: str, poll: float) -> dict[str, Any]:
    shown = ""
    while True:
        run = api.call("GET", path)
        current = (run.get("progress") or {}).get("step") or ""
        if current and current != shown:
            err().print(f"  {current} ...", markup=False)
            shown = current
        if run["phase"] in ("Completed", "Failed"):
            return run
        time.sleep(poll)


def _report(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(run)
    else:
        what = f"{run['kind']} {run['id']}{' (dry run)' if run['dry_run'] else ''}"
        out().print(f"{what}: [bold]{run['phase']}[/bold]")
        print_table(_steps_table(run))
        if run.get("achieved_rto_s") is not None:
            out().print(
                f"achieved RTO {run['achieved_rto_s']:.1f}s, RPO {cell(run.get('achieved_rpo_s'))}s",
                markup=False,
            )
        for check in run.get("failed_checks") or []:
            out().print(f"failed: {check['step']}/{check['check']}: {check['reason']}", markup=False)
        if run.get("next_action"):
            out().print(f"next: {run['next_action']}", markup=False)
    if run["phase"] == "Failed":
        raise typer.Exit(1)


def _start(
    url: str,
    api_key: str | None,
    plan: str,
    action: str,
    body: dict[str, Any],
    wait: bool,
    poll: float,
    listing: str,
) -> dict[str, Any]:
    with _client(url, api_key) as api:
        plan_id = _plan_id(api, plan)
        run = api.call("POST", f"/api/v1/dr/plans/{plan_id}/{action}", json=body)
        if run["phase"] not in ("Completed", "Failed"):
            err().print(f"{run['kind']} {run['id']} of plan {plan_id} started", markup=False)
            if wait:
                run = _follow(api, f"/api/v1/dr/plans/{plan_id}/{listing}/{run['id']}", poll)
    return run


@dr_app.command("drill")
def drill(
    plan: PlanRef,
    keep: Annotated[bool, typer.Option("--keep", help="leave the drill namespaces in the target")] = False,
    wait: Wait = True,
    poll_interval: Poll = 1.0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Drill a plan: restore its newest good backup into drill namespaces of the target (exit 1 if it fails)."""
    _report(_start(url, api_key, plan, "drills", {"keep": keep}, wait, poll_interval, "drills"), as_json)


@dr_app.command("drills")
def drills(
    plan: PlanRef,
    limit: Limit = DEFAULT_PAGE_SIZE,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """A plan's drills, newest first."""
    with _client(url, api_key) as api:
        page = api.call("GET", f"/api/v1/dr/plans/{_plan_id(api, plan)}/drills", params={"limit": limit})
    if as_json:
        print_json(page)
        return
    table = Table("id", "phase", "passed", "rto s", "rpo s", "backup", "started", "failed check")
    for r in page["items"]:
        failed = r["failed_checks"][0] if r["failed_checks"] else None
        table.add_row(
            str(r["id"]),
            r["phase"],
            cell(r["passed"]),
            cell(r["achieved_rto_s"]),
            cell(r["achieved_rpo_s"]),
            cell(r["backup_id"]),
            cell(r["started_at"]),
            f"{failed['step']}: {failed['reason']}" if failed else "",
        )
    print_table(table)


def _runbook(
    kind: str,
    plan: str,
    dry_run: bool,
    final_backup: bool,
    scale_down: bool,
    wait: bool,
    poll: float,
    as_json: bool,
    url: str,
    api_key: str | None,
) -> None:
    body = {"dry_run": dry_run, "final_backup": final_backup, "scale_down": scale_down}
    _report(_start(url, api_key, plan, kind, body, wait, poll, "runbooks"), as_json)


DryRun = Annotated[bool, typer.Option("--dry-run", help="list the steps and objects; change nothing")]
FinalBackup = Annotated[
    bool, typer.Option("--final-backup/--no-final-backup", help="back up the cluster left first")
]
ScaleDown = Annotated[
    bool, typer.Option("--scale-down/--no-scale-down", help="scale the cluster left to zero")
]


@dr_app.command("failover")
def failover(
    plan: PlanRef,
    dry_run: DryRun = False,
    final_backup: FinalBackup = True,
    scale_down: ScaleDown = True,
    wait: Wait = True,
    poll_interval: Poll = 1.0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Fail a plan over to its target cluster (exit 1 if a step fails; it says what to do next)."""
    _runbook("failover", plan, dry_run, final_backup, scale_down, wait, poll_interval, as_json, url, api_key)


@dr_app.command("failback")
def failback(
    plan: PlanRef,
    dry_run: DryRun = False,
    final_backup: FinalBackup = True,
    scale_down: ScaleDown = True,
    wait: Wait = True,
    poll_interval: Poll = 1.0,
    as_json: JsonOption = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Fail a plan back to its source cluster from a fresh backup of the target."""
    _runbook("failback", plan, dry_run, final_backup, scale_down, wait, poll_interval, as_json, url, api_key)
