"""Failover and failback: recorded runbooks that move a plan's namespaces from the cluster being left to
the cluster taking over, under their real names.

Failover (source -> target): reach the source; a final backup of it when it answers; scale its workloads to
zero when reachable (counts recorded, for the failback); restore the newest covering backup into the target;
wait for readiness; report. Failback (target -> source) is the same from a fresh backup of the target, and
then sets the source's workloads back to the replica counts the failover recorded. A failed step stops the
runbook with the state it left and ``next_action``. ``dry_run`` lists the steps and what each would touch,
reading the clusters only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aegis.dr import readiness
from aegis.dr.context import RunContext
from aegis.dr.service import backup_request
from aegis.dr.steps import StepFailed, StepSkipped
from aegis.kube.clusters import ClusterConfigError
from aegis.kube.transport import KubeAPIError
from aegis.kube.workloads import Workload, set_replicas
from oco.errors import ApiError
from oco.timeutil import as_utc

FAILOVER_STEPS = ("reach", "final_backup", "scale_down", "restore", "wait_for_ready", "report")
FAILBACK_STEPS = (
    "reach",
    "final_backup",
    "scale_down",
    "restore",
    "restore_replicas",
    "wait_for_ready",
    "report",
)
#: objects listed per step of a dry run at most
LISTED_MAX = 500
REACH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Direction:
    """Which cluster a runbook leaves and which takes over."""

    kind: str
    leaving: str
    arriving: str

    @property
    def steps(self) -> tuple[str, ...]:
        return FAILOVER_STEPS if self.kind == "failover" else FAILBACK_STEPS


def direction(kind: str, plan: dict[str, Any]) -> Direction:
    if kind == "failover":
        return Direction(kind, plan["source_cluster"], plan["target_cluster"])
    return Direction(kind, plan["target_cluster"], plan["source_cluster"])


async def reachable(ctx: RunContext, cluster: str) -> tuple[bool, str | None]:
    check = await asyncio.to_thread(ctx.registry.check, cluster, REACH_TIMEOUT_S)
    return check.reachable, check.error


async def run_runbook(ctx: RunContext, way: Direction, recorded: dict[str, Any] | None) -> None:
    """The runbook's procedure (``recorded``: the replica counts of the failover, for a failback)."""
    plan, steps, options = ctx.plan, ctx.steps, ctx.run["options"]
    namespaces = list(plan["included_namespaces"])
    async with steps.step("reach") as step:
        up, error = await reachable(ctx, way.leaving)
        if not up and way.kind == "failback":
            raise StepFailed(
                "reachable",
                f"cluster {way.leaving!r} does not answer: {error}",
                next_action=f"a failback starts from a fresh backup of {way.leaving!r}, which holds the changes"
                " made there: bring it back (or fix its credentials), then retry",
            )
        step["detail"] = f"{way.leaving!r} answers" if up else f"{way.leaving!r} does not answer: {error}"
    async with steps.step("final_backup") as step:
        if not options.get("final_backup", True):
            raise StepSkipped("final_backup is off")
        if not up:
            raise StepSkipped(f"{way.leaving!r} does not answer: restoring from its newest backup")
        try:
            record = await ctx.backup(way.leaving, backup_request(plan, way.leaving))
        except StepFailed as failure:
            failure.next_action = (
                f"retry the {way.kind}, or pass final_backup: false to use the newest backup taken before"
            )
            raise
        step["detail"] = f"backup {record['id']} ({record['name']}): {record['items_done']} objects"
    async with steps.step("scale_down") as step:
        if not options.get("scale_down", True):
            raise StepSkipped("scale_down is off: the workloads of both clusters may run at once")
        if not up:
            raise StepSkipped(f"{way.leaving!r} does not answer: nothing to scale down")
        scaled = await _scale_down(ctx, way.leaving, namespaces)
        ctx.values["replicas"] = {"cluster": way.leaving, "workloads": scaled}
        await steps.save(replicas=ctx.values["replicas"])
        step["detail"] = f"{len(scaled)} workload(s) scaled to 0"
        step["objects"] = [
            f"{w['resource']} {w['namespace']}/{w['name']}: {w['replicas']} -> 0" for w in scaled
        ]
    async with steps.step("restore") as step:
        backup = await ctx.find_backup(plan, way.leaving)
        if backup is None:
            raise StepFailed(
                "backup",
                f"no Completed backup of {way.leaving!r} covers namespaces {', '.join(namespaces)}",
                next_action=f"nothing to restore from: bring {way.leaving!r} back and retry with a final backup",
            )
        ctx.values["backup_id"] = backup["id"]
        await steps.save(backup_id=backup["id"])
        try:
            record = await ctx.restore(
                {
                    "backup_id": backup["id"],
                    "cluster": way.arriving,
                    "included_namespaces": namespaces,
                    "label_selector": plan["label_selector"],
                    "existing_resource_policy": "update",
                }
            )
        except StepFailed as failure:
            failure.next_action = (
                f"{way.arriving!r} may hold part of the restore: fix the cause (see the restore and the objects"
                f" named) and retry the {way.kind}; objects already restored are updated"
            )
            raise
        step["detail"] = (
            f"backup {backup['id']} restored into {way.arriving!r} (restore {record['id']}:"
            f" {record['created_count']} created, {record['updated_count']} updated)"
        )
    if way.kind == "failback":
        async with steps.step("restore_replicas") as step:
            workloads = (recorded or {}).get("workloads") or []
            if not workloads:
                raise StepSkipped("the failover recorded no replica counts (it did not scale down)")
            step["objects"] = await _restore_replicas(ctx, way.arriving, workloads)
            step["detail"] = f"{len(workloads)} workload(s) set back to their recorded replicas"
    async with steps.step("wait_for_ready") as step:
        ready = plan["readiness"] or {}
        if not ready.get("workloads_available", True):
            raise StepSkipped("readiness.workloads_available is off")
        try:
            found = await readiness.wait_until_ready(
                ctx.registry,
                way.arriving,
                namespaces,
                float(ready.get("timeout_s") or 600),
                cancel=ctx.cancel,
                retry=ctx.settings.kube_retry(),
            )
        except StepFailed as failure:
            failure.next_action = (
                f"the restore is applied on {way.arriving!r}: check the workloads named in failed_checks there,"
                f" then retry the {way.kind}"
            )
            raise
        step["detail"] = f"{len(found)} workload(s) available on {way.arriving!r}"
        step["objects"] = [w.describe() for w in found]
    async with steps.step("report") as step:
        times = steps.times
        start, end = times["reach"][0], times["wait_for_ready"][1]
        if end is not None:
            ctx.values["achieved_rto_s"] = round((end - start).total_seconds(), 3)
        backup_end = backup.get("finished_at")
        if backup_end is not None:
            ctx.values["achieved_rpo_s"] = round(max(0.0, (start - as_utc(backup_end)).total_seconds()), 3)
        ctx.values["passed"] = True
        step["detail"] = f"{', '.join(namespaces)} now serve from {way.arriving!r}"


async def _scale_down(ctx: RunContext, cluster: str, namespaces: list[str]) -> list[dict[str, Any]]:
    try:
        found = await readiness.workloads(ctx.registry, cluster, namespaces, ctx.settings.kube_retry())
    except (KubeAPIError, ClusterConfigError) as exc:
        raise StepFailed(
            "scale_down", f"cannot list the workloads of {cluster!r}: {exc}", next_action="retry the runbook"
        ) from None
    scalable = [w for w in found if w.scalable]
    done: list[dict[str, Any]] = []

    def scale() -> None:
        with ctx.registry.connect(cluster) as connection:
            transport = connection.transport(ctx.settings.kube_retry())
            for workload in scalable:
                previous = set_replicas(transport, workload.resource, workload.namespace, workload.name, 0)
                done.append(_recorded(workload, previous))

    try:
        await asyncio.to_thread(scale)
    except (KubeAPIError, ClusterConfigError) as exc:
        await ctx.steps.save(replicas={"cluster": cluster, "workloads": done})
        ctx.values["replicas"] = {"cluster": cluster, "workloads": done}
        raise StepFailed(
            "scale_down",
            f"scaling the workloads of {cluster!r} to 0 failed: {exc}",
            objects=[f"{w['resource']} {w['namespace']}/{w['name']}" for w in done],
            next_action=f"{len(done)} workload(s) were scaled to 0 (their counts are in replicas): retry, or scale"
            " them back by hand",
        ) from None
    return done


def _recorded(workload: Workload, replicas: int) -> dict[str, Any]:
    return {
        "resource": workload.resource,
        "namespace": workload.namespace,
        "name": workload.name,
        "replicas": replicas,
    }


async def _restore_replicas(ctx: RunContext, cluster: str, workloads: list[dict[str, Any]]) -> list[str]:
    def apply() -> list[str]:
        touched = []
        with ctx.registry.connect(cluster) as connection:
            transport = connection.transport(ctx.settings.kube_retry())
            for w in workloads:
                set_replicas(transport, w["resource"], w["namespace"], w["name"], int(w["replicas"]))
                touched.append(f"{w['resource']} {w['namespace']}/{w['name']}: {w['replicas']}")
        return touched

    try:
        return await asyncio.to_thread(apply)
    except (KubeAPIError, ClusterConfigError) as exc:
        raise StepFailed(
            "restore_replicas",
            f"setting the recorded replica counts on {cluster!r} failed: {exc}",
            next_action="set the replica counts listed in the failover run's replicas by hand, or retry",
        ) from None


# -- dry run ---------------------------------------------------------------------------------------------


async def plan_runbook(
    ctx: RunContext, way: Direction, recorded: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The steps a runbook would take and the objects each would touch, from reads only."""
    plan, options = ctx.plan, ctx.run["options"]
    namespaces = list(plan["included_namespaces"])
    up, error = await reachable(ctx, way.leaving)
    planned: list[dict[str, Any]] = []

    def add(name: str, detail: str, objects: list[str] | None = None) -> None:
        objects = objects or []
        extra = [f"... and {len(objects) - LISTED_MAX} more"] if len(objects) > LISTED_MAX else []
        planned.append(
            {"name": name, "status": "planned", "detail": detail, "objects": objects[:LISTED_MAX] + extra}
        )

    add("reach", f"{way.leaving!r} answers" if up else f"{way.leaving!r} does not answer: {error}")
    fresh = up and options.get("final_backup", True)
    if fresh:
        add(
            "final_backup",
            f"back up namespaces {', '.join(namespaces)} of {way.leaving!r} into {plan['storage_location']!r}",
            [f"namespace {ns}" for ns in namespaces],
        )
    else:
        add(
            "final_backup",
            "skipped: " + ("final_backup is off" if up else f"{way.leaving!r} does not answer"),
        )
    leaving_workloads: list[Workload] = []
    if up:
        try:
            leaving_workloads = await readiness.workloads(
                ctx.registry, way.leaving, namespaces, ctx.settings.kube_retry()
            )
        except (KubeAPIError, ClusterConfigError):
            leaving_workloads = []
    if options.get("scale_down", True) and up:
        scalable = [w for w in leaving_workloads if w.scalable]
        add(
            "scale_down",
            f"scale {len(scalable)} workload(s) of {way.leaving!r} to 0 (counts recorded)",
            [f"{w.ref}: {w.desired} -> 0" for w in scalable],
        )
    else:
        add("scale_down", "skipped: " + ("scale_down is off" if up else f"{way.leaving!r} does not answer"))
    backup = await ctx.find_backup(plan, way.leaving)
    objects: list[str] = []
    if backup is not None:
        try:
            contents = await ctx.backups.contents(backup)
            objects = [
                f"{i.resource}{'.' + i.group if i.group else ''} {i.namespace + '/' if i.namespace else ''}{i.name}"
                for i in contents.items
                if i.namespace is None or i.namespace in namespaces
            ]
        except ApiError as exc:
            objects = [f"(backup {backup['id']} unreadable: {exc.message})"]
    source = (
        "a fresh backup"
        if fresh
        else (f"backup {backup['id']}" if backup else "no backup (the runbook would fail)")
    )
    shown = f" (contents as in backup {backup['id']})" if fresh and backup else ""
    add(
        "restore",
        f"restore {source} into {way.arriving!r} under the real names, updating what exists{shown}",
        objects,
    )
    if way.kind == "failback":
        workloads = (recorded or {}).get("workloads") or []
        add(
            "restore_replicas",
            f"set {len(workloads)} workload(s) of {way.arriving!r} back to the counts the failover recorded",
            [f"{w['resource']} {w['namespace']}/{w['name']}: {w['replicas']}" for w in workloads],
        )
    ready = plan["readiness"] or {}
    if ready.get("workloads_available", True):
        add(
            "wait_for_ready",
            f"wait up to {ready.get('timeout_s', 600)}s for the workloads of {', '.join(namespaces)} on {way.arriving!r}",
            [w.ref for w in leaving_workloads],
        )
    else:
        add("wait_for_ready", "skipped: readiness.workloads_available is off")
    add("report", f"{', '.join(namespaces)} would serve from {way.arriving!r}")
    return planned
