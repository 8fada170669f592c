"""DR drills over HTTP with two fake clusters: the newest good backup restored into `<ns>-drill-<id>`
namespaces of the target, readiness from the workloads' status, per-step timings, achieved RTO and RPO,
clean-up (or `keep`), a workload that never becomes available failing the readiness step with the reason,
a drill past its RTO naming the step that ran long, and a run a dead process left marked failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from kubernetes import client

from aegis.dr.tables import dr_runs
from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.dr_support import Clock, create_plan, steps_by_name, use_clock, wait_run
from tests.aegis.scenario import populate


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube, client_for) -> AegisEnv:  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    aegis = await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)
    aegis.extra["location"] = unique("disk")
    aegis.extra["target_api"] = client_for(target_kube)
    await aegis.add_local_location(aegis.extra["location"])
    return aegis


def _namespaces(env: AegisEnv) -> set[str]:
    core = client.CoreV1Api(env.extra["target_api"])
    return {ns.metadata.name for ns in core.list_namespace().items}


async def test_a_drill_restores_into_drill_namespaces_passes_and_cleans_up(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = env.extra["location"]
    plan = await create_plan(env, location, unique("drill"), included_namespaces=["shop", "blog"])
    backup = await env.backup(location, included_namespaces=["shop", "blog"])
    env.target.fake.workloads_available = True
    source_writes = len(env.source.fake.writes())

    started = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/drills", 202, json={"keep": False})
    assert started["kind"] == "drill" and started["phase"] in ("New", "InProgress")
    run = await wait_run(env, plan["id"], started["id"])
    assert run["phase"] == "Completed" and run["passed"] is True, run
    assert run["backup_id"] == backup["id"] and run["restore_id"] is not None
    short = run["short_id"]
    assert run["namespaces"] == {"shop": f"shop-drill-{short}", "blog": f"blog-drill-{short}"}
    steps = steps_by_name(run)
    assert [s["name"] for s in run["steps"]] == ["verify_archive", "restore", "wait_for_ready", "cleanup"]
    assert all(s["status"] == "succeeded" for s in run["steps"]), run["steps"]
    assert all(s["started_at"] and s["finished_at"] and s["duration_s"] >= 0 for s in run["steps"])
    assert "checksum verified" in steps["verify_archive"]["detail"]
    assert f"deployments.apps shop-drill-{short}/web (2/2 available)" in steps["wait_for_ready"]["objects"]
    assert run["achieved_rto_s"] is not None and run["achieved_rto_s"] >= 0
    assert run["achieved_rpo_s"] is not None and run["achieved_rpo_s"] >= 0
    assert run["failed_checks"] == [] and run["next_action"] is None
    assert run["progress"] is None or run["progress"]["steps_total"] == 4

    # restored into the drill namespaces of the target (objects were created there), then deleted
    created = {r.path for r in env.target.fake.writes() if r.method == "POST"}
    assert f"/api/v1/namespaces/shop-drill-{short}/configmaps" in created
    deleted = {r.path for r in env.target.fake.writes() if r.method == "DELETE"}
    assert {f"/api/v1/namespaces/shop-drill-{short}", f"/api/v1/namespaces/blog-drill-{short}"} <= deleted
    assert not any("drill" in ns for ns in _namespaces(env))
    assert "shop" not in _namespaces(env)  # nothing restored under the real names
    assert len(env.source.fake.writes()) == source_writes  # production untouched

    listed = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/drills")
    assert listed["total"] == 1 and listed["items"][0]["id"] == run["id"]
    status = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/status")
    assert status["last_drill"]["id"] == run["id"] and status["last_drill"]["passed"] is True
    assert status["last_drill"]["achieved_rto_s"] == run["achieved_rto_s"] and status["rto_status"] == "ok"
    assert f'oco_aegis_rto_seconds{{plan="{plan["name"]}"}}' in (await env.client.get("/metrics")).text


async def test_keep_leaves_the_drill_namespaces(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = env.extra["location"]
    plan = await create_plan(env, location, unique("keep"), readiness={"workloads_available": False})
    await env.backup(location, included_namespaces=["shop"])
    started = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/drills", 202, json={"keep": True})
    run = await wait_run(env, plan["id"], started["id"])
    assert run["phase"] == "Completed", run
    steps = steps_by_name(run)
    assert steps["wait_for_ready"]["status"] == "skipped" and steps["cleanup"]["status"] == "skipped"
    drill_ns = run["namespaces"]["shop"]
    assert drill_ns in _namespaces(env)
    web = client.AppsV1Api(env.extra["target_api"]).read_namespaced_deployment("web", drill_ns)
    assert web.spec.replicas == 2


async def test_a_workload_that_never_becomes_available_fails_the_readiness_step(
    env: AegisEnv, unique
) -> None:  # type: ignore[no-untyped-def]
    location = env.extra["location"]
    plan = await create_plan(
        env, location, unique("slow"), readiness={"workloads_available": True, "timeout_s": 1}
    )
    await env.backup(location, included_namespaces=["shop"])
    env.target.fake.workloads_available = True
    env.target.fake.never_available = {"web"}
    started = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/drills", 202)
    run = await wait_run(env, plan["id"], started["id"])
    assert run["phase"] == "Failed" and run["passed"] is False
    steps = steps_by_name(run)
    assert steps["verify_archive"]["status"] == steps["restore"]["status"] == "succeeded"
    assert steps["wait_for_ready"]["status"] == "failed"
    assert steps["cleanup"]["status"] == "succeeded"  # the drill namespaces are removed all the same
    [check] = run["failed_checks"]
    drill_ns = run["namespaces"]["shop"]
    assert check["step"] == "wait_for_ready" and check["check"] == "workloads_available"
    assert f"deployments.apps {drill_ns}/web (0/2 available)" in check["reason"]
    assert "timed out after 1s" in check["reason"]
    assert check["objects"] == [f"deployments.apps {drill_ns}/web"]
    assert run["error"].startswith("wait_for_ready: timed out") and drill_ns not in _namespaces(env)
    assert (await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/status"))["last_drill"]["passed"] is False


async def test_a_drill_without_a_covering_backup_fails_at_verify_with_what_to_do(
    env: AegisEnv, unique
) -> None:  # type: ignore[no-untyped-def]
    plan = await create_plan(env, env.extra["location"], unique("none"))
    started = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/drills", 202)
    run = await wait_run(env, plan["id"], started["id"])
    assert run["phase"] == "Failed" and run["failed_checks"][0]["step"] == "verify_archive"
    assert "no Completed backup" in run["error"] and "backup" in run["next_action"]
    assert steps_by_name(run)["restore"]["status"] == "pending"
    assert steps_by_name(run)["cleanup"]["status"] == "skipped"


async def test_a_drill_past_its_rto_fails_naming_the_step_that_ran_long(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = env.extra["location"]
    plan = await create_plan(
        env, location, unique("rto"), rto_minutes=1, readiness={"workloads_available": False}
    )
    await env.backup(location, included_namespaces=["shop"])
    # every read of the service's clock moves it 20 s on: the restore's start and end are 40 s apart...
    use_clock(env, Clock(datetime.now(UTC), step=timedelta(seconds=20)))
    started = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/drills", 202)
    run = await wait_run(env, plan["id"], started["id"])
    assert run["phase"] == "Failed" and run["passed"] is False, run
    [check] = run["failed_checks"]
    assert check["check"] == "rto" and check["step"] in ("restore", "wait_for_ready")
    assert f"the budget ran out during {check['step']}" in check["reason"]
    assert run["achieved_rto_s"] > 60 and steps_by_name(run)["cleanup"]["status"] == "succeeded"


async def test_a_run_left_by_a_dead_process_is_marked_failed_on_restart(
    env: AegisEnv, unique, database
) -> None:  # type: ignore[no-untyped-def]
    plan = await create_plan(env, env.extra["location"], unique("dead"))
    now = datetime.now(UTC)
    async with database.engine.begin() as conn:
        run_id = (
            await conn.execute(
                sa.insert(dr_runs)
                .values(
                    plan_id=plan["id"],
                    kind="drill",
                    phase="InProgress",
                    dry_run=False,
                    options={},
                    active_key=f"drill:{plan['id']}",
                    short_id="dead00",
                    source_cluster=env.src,
                    target_cluster=env.dr,
                    namespaces={},
                    steps=[],
                    failed_checks=[],
                    replicas={},
                    owner="svc-0123456789abcdef",
                    heartbeat_at=now - timedelta(hours=1),
                    created_at=now - timedelta(hours=1),
                )
                .returning(dr_runs.c.id)
            )
        ).scalar_one()
    busy = await env.call("POST", f"/api/v1/dr/plans/{plan['id']}/drills")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "run_in_progress"
    assert run_id in await env.app.state.dr_runs.recover(startup=True)
    run = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/drills/{run_id}")
    assert (
        run["phase"] == "Failed" and run["error"] == "interrupted" and "start it again" in run["next_action"]
    )
    again = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/drills", 202)
    assert (await wait_run(env, plan["id"], again["id"]))["phase"] == "Failed"  # no backup, but it ran


async def test_the_scheduler_starts_each_due_drill_once(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    plan = await create_plan(env, env.extra["location"], unique("cron"), drill_schedule="*/5 * * * *")
    due = datetime.fromisoformat(plan["next_drill_at"])
    scheduler = env.app.state.scheduler
    await scheduler.tick(due - timedelta(seconds=1))
    assert (await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/drills"))["total"] == 0
    await scheduler.tick(due + timedelta(seconds=1))
    await scheduler.tick(due + timedelta(seconds=2))  # the same fire time: not again
    drills = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/drills")
    assert drills["total"] == 1 and drills["items"][0]["created_by"] == "scheduler"
    moved = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}")
    assert datetime.fromisoformat(moved["next_drill_at"]) == due + timedelta(minutes=5)
    await wait_run(env, plan["id"], drills["items"][0]["id"])
