"""A drill: restore the newest good backup of a plan into the target cluster under drill namespaces
(`<ns>-drill-<short id>`), wait for readiness, measure the achieved RTO and RPO, clean up. Production (the
source cluster) is never touched."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from aegis.dr import readiness
from aegis.dr.context import RunContext
from aegis.dr.steps import StepFailed, StepSkipped
from aegis.kube.clusters import ClusterConfigError
from aegis.kube.transport import KubeAPIError
from aegis.kube.workloads import delete_namespace
from oco.errors import ApiError
from oco.timeutil import as_utc

STEPS = ("verify_archive", "restore", "wait_for_ready", "cleanup")
#: the steps whose time counts towards the achieved RTO
RTO_STEPS = ("verify_archive", "restore", "wait_for_ready")
NAMESPACE_MAX = 63


def drill_namespace(namespace: str, short_id: str) -> str:
    """``<ns>-drill-<short id>``, the namespace part shortened to keep a DNS label (63 characters)."""
    suffix = f"-drill-{short_id}"
    return namespace[: NAMESPACE_MAX - len(suffix)].rstrip("-") + suffix


async def run_drill(ctx: RunContext) -> None:
    """The drill's procedure; sets ctx.values (passed, achieved RTO/RPO); StepFailed stops it (the drill
    namespaces are cleaned up all the same, unless `keep`)."""
    plan, steps = ctx.plan, ctx.steps
    mapping = {ns: drill_namespace(ns, ctx.run["short_id"]) for ns in plan["included_namespaces"]}
    ctx.values["namespaces"] = mapping
    await steps.save(namespaces=mapping)
    restored: list[bool] = []
    try:
        await _recover(ctx, mapping, restored)
    except BaseException:
        with contextlib.suppress(StepFailed):
            await _cleanup(ctx, mapping, bool(restored))
        raise
    await _cleanup(ctx, mapping, bool(restored))


async def _recover(ctx: RunContext, mapping: dict[str, str], restored: list[bool]) -> None:
    plan, steps = ctx.plan, ctx.steps
    async with steps.step("verify_archive") as step:
        backup = await ctx.find_backup(plan, plan["source_cluster"])
        if backup is None:
            raise StepFailed(
                "backup",
                f"no Completed backup of cluster {plan['source_cluster']!r} covers namespaces"
                f" {', '.join(plan['included_namespaces'])}",
                next_action="run a backup of the plan's scope (or wait for its schedule), then drill again",
            )
        ctx.values["backup_id"] = backup["id"]
        try:
            contents = await ctx.backups.contents(backup)
        except ApiError as exc:
            raise StepFailed(
                "archive",
                exc.message,
                next_action="the newest backup is unreadable: take a new backup and drill again",
            ) from None
        drill_start = steps.times["verify_archive"][0]
        ctx.values["achieved_rpo_s"] = _seconds(as_utc(backup["finished_at"]), drill_start)
        step["detail"] = (
            f"backup {backup['id']} ({backup['name']}): {len(contents.items)} objects, checksum verified"
        )
    async with steps.step("restore") as step:
        restored.append(True)
        record = await ctx.restore(
            {
                "backup_id": backup["id"],
                "cluster": plan["target_cluster"],
                "included_namespaces": list(plan["included_namespaces"]),
                "label_selector": plan["label_selector"],
                "namespace_mapping": mapping,
                "existing_resource_policy": "skip",
            }
        )
        step["detail"] = f"restore {record['id']}: {record['created_count']} created"
        step["objects"] = sorted(mapping.values())
    async with steps.step("wait_for_ready") as step:
        ready = plan["readiness"] or {}
        if not ready.get("workloads_available", True):
            raise StepSkipped("readiness.workloads_available is off")
        found = await readiness.wait_until_ready(
            ctx.registry,
            plan["target_cluster"],
            list(mapping.values()),
            float(ready.get("timeout_s") or 600),
            cancel=ctx.cancel,
            retry=ctx.settings.kube_retry(),
        )
        step["detail"] = f"{len(found)} workload(s) available"
        step["objects"] = [w.describe() for w in found]
    _measure_rto(ctx)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def _measure_rto(ctx: RunContext) -> None:
    """Achieved RTO: from the start of verify_archive to the end of wait_for_ready. Past the plan's RTO the
    drill fails, naming the step during which the budget ran out."""
    times = ctx.steps.times
    start, end = times["verify_archive"][0], times["wait_for_ready"][1] or ctx.clock()
    achieved = _seconds(start, end) or 0.0
    ctx.values["achieved_rto_s"] = achieved
    target = ctx.plan["rto_minutes"] * 60
    if achieved <= target:
        ctx.values["passed"] = True
        return
    culprit = next(
        (
            name
            for name in RTO_STEPS
            if name in times and (_seconds(start, times[name][1] or end) or 0.0) > target
        ),
        "wait_for_ready",
    )
    spent = ctx.steps.get(culprit).get("duration_s") or 0.0
    reason = (
        f"achieved RTO {achieved:g}s exceeds the plan's {target}s: the budget ran out during {culprit}"
        f" (which took {spent:g}s)"
    )
    ctx.steps.fail_check(culprit, "rto", reason)
    ctx.values["passed"] = False
    failure = StepFailed(
        "rto", reason, next_action=f"make {culprit} faster or raise rto_minutes, then drill again"
    )
    failure.step = culprit
    raise failure


async def _cleanup(ctx: RunContext, mapping: dict[str, str], restored: bool) -> None:
    steps = ctx.steps
    if ctx.run["options"].get("keep"):
        await steps.skip("cleanup", "keep: the drill namespaces stay: " + ", ".join(sorted(mapping.values())))
        return
    if not restored:
        await steps.skip("cleanup", "nothing was restored")
        return
    async with steps.step("cleanup") as step:
        deleted = await asyncio.to_thread(_delete_namespaces, ctx, sorted(mapping.values()))
        step["detail"] = f"deleted {len(deleted)} drill namespace(s)"
        step["objects"] = deleted


def _delete_namespaces(ctx: RunContext, names: list[str]) -> list[str]:
    try:
        with ctx.registry.connect(ctx.plan["target_cluster"]) as connection:
            transport = connection.transport(ctx.settings.kube_retry())
            return [name for name in names if delete_namespace(transport, name)]
    except (KubeAPIError, ClusterConfigError) as exc:
        raise StepFailed(
            "cleanup",
            f"could not delete the drill namespaces: {exc}",
            objects=names,
            next_action=f"delete the namespaces {', '.join(names)} from cluster {ctx.plan['target_cluster']!r}",
        ) from None
