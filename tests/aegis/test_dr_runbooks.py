"""Failover and failback over HTTP with two fake clusters: failover with the source down completes from the
last backup; failover with it up takes a final backup and scales it to zero (counts recorded); failback
restores the target's changes and the recorded replica counts; a dry run lists steps and objects and sends
no write to either API server; a second runbook while one runs gets 409; a failed step says what to do."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.dr_support import create_plan, steps_by_name, wait_run
from tests.aegis.scenario import populate


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube, client_for) -> AegisEnv:  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    aegis = await start_env(
        settings, serve_app, keystore, unique, tmp_path, kube, target_kube, oco_aegis_kube_max_attempts=1
    )
    aegis.extra["location"] = unique("disk")
    aegis.extra["source_api"] = client_for(kube)
    aegis.extra["target_api"] = client_for(target_kube)
    await aegis.add_local_location(aegis.extra["location"])
    kube.fake.workloads_available = target_kube.fake.workloads_available = True
    return aegis


def _apps(env: AegisEnv, side: str) -> client.AppsV1Api:
    return client.AppsV1Api(env.extra[f"{side}_api"])


def _core(env: AegisEnv, side: str) -> client.CoreV1Api:
    return client.CoreV1Api(env.extra[f"{side}_api"])


async def _runbook(env: AegisEnv, plan: dict, kind: str, **body) -> dict:  # type: ignore[no-untyped-def]
    started = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/{kind}", 202, json=body)
    assert started["kind"] == kind and started["dry_run"] is False
    return await wait_run(env, plan["id"], started["id"], kind="runbooks")


async def test_failover_with_the_source_down_completes_from_the_last_backup(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = env.extra["location"]
    plan = await create_plan(env, location, unique("down"))
    backup = await env.backup(location, included_namespaces=["shop"])
    env.source.stop()

    run = await _runbook(env, plan, "failover")
    assert run["phase"] == "Completed" and run["passed"] is True, run["steps"]
    steps = steps_by_name(run)
    assert [s["name"] for s in run["steps"]] == [
        "reach",
        "final_backup",
        "scale_down",
        "restore",
        "wait_for_ready",
        "report",
    ]
    assert "does not answer" in steps["reach"]["detail"] and steps["reach"]["status"] == "succeeded"
    assert steps["final_backup"]["status"] == steps["scale_down"]["status"] == "skipped"
    assert (
        steps["restore"]["status"]
        == steps["wait_for_ready"]["status"]
        == steps["report"]["status"]
        == "succeeded"
    )
    assert run["backup_id"] == backup["id"] and run["replicas"] == {}
    assert run["achieved_rto_s"] >= 0 and run["achieved_rpo_s"] >= 0
    web = _apps(env, "target").read_namespaced_deployment("web", "shop")  # under the real name
    assert web.spec.replicas == 2
    assert _core(env, "target").read_namespaced_config_map("settings", "shop").data
    assert (await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}"))["active_cluster"] == env.dr
    again = await env.call("POST", f"/api/v1/dr/plans/{plan['id']}/failover")
    assert again.status_code == 409 and again.json()["error"]["code"] == "wrong_side"


async def test_failover_then_failback_restores_the_targets_changes_and_replica_counts(
    env: AegisEnv, unique
) -> None:  # type: ignore[no-untyped-def]
    plan = await create_plan(env, env.extra["location"], unique("both"))
    over = await _runbook(env, plan, "failover")
    assert over["phase"] == "Completed", over["steps"]
    steps = steps_by_name(over)
    assert steps["final_backup"]["status"] == "succeeded" and steps["scale_down"]["status"] == "succeeded"
    assert over["replicas"] == {
        "cluster": env.src,
        "workloads": [{"resource": "deployments.apps", "namespace": "shop", "name": "web", "replicas": 2}],
    }
    assert "deployments.apps shop/web: 2 -> 0" in steps["scale_down"]["objects"]
    assert _apps(env, "source").read_namespaced_deployment("web", "shop").spec.replicas == 0
    assert (
        _apps(env, "target").read_namespaced_deployment("web", "shop").spec.replicas == 2
    )  # from the final backup

    # life goes on in the DR cluster: a configuration change, and someone scales the app up
    core = _core(env, "target")
    settings = core.read_namespaced_config_map("settings", "shop")
    settings.data = {**(settings.data or {}), "mode": "changed-on-dr"}
    core.replace_namespaced_config_map("settings", "shop", settings)
    apps = _apps(env, "target")
    web = apps.read_namespaced_deployment("web", "shop")
    web.spec.replicas = 5
    apps.replace_namespaced_deployment("web", "shop", web)

    back = await _runbook(env, plan, "failback")
    assert back["phase"] == "Completed", back["steps"]
    steps = steps_by_name(back)
    assert [s["name"] for s in back["steps"]] == [
        "reach",
        "final_backup",
        "scale_down",
        "restore",
        "restore_replicas",
        "wait_for_ready",
        "report",
    ]
    assert all(s["status"] == "succeeded" for s in back["steps"]), back["steps"]
    assert back["replicas"]["cluster"] == env.dr and back["replicas"]["workloads"][0]["replicas"] == 5
    assert _core(env, "source").read_namespaced_config_map("settings", "shop").data["mode"] == "changed-on-dr"
    assert _apps(env, "source").read_namespaced_deployment("web", "shop").spec.replicas == 2  # as recorded
    assert _apps(env, "target").read_namespaced_deployment("web", "shop").spec.replicas == 0
    assert (await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}"))["active_cluster"] == env.src
    listed = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/runbooks")
    assert [r["kind"] for r in listed["items"]] == ["failback", "failover"] and listed["total"] == 2


async def test_dry_run_lists_steps_and_objects_and_writes_nothing(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = env.extra["location"]
    plan = await create_plan(env, location, unique("dry"))
    await env.backup(location, included_namespaces=["shop"])
    before = (len(env.source.fake.writes()), len(env.target.fake.writes()))
    backups_before = (await env.ok("GET", "/api/v1/backups"))["total"]

    for kind in ("failover", "failback"):
        run = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/{kind}", 200, json={"dry_run": True})
        assert run["dry_run"] is True and run["phase"] == "Completed" and run["kind"] == kind
        assert all(s["status"] == "planned" for s in run["steps"])
        assert "report" in steps_by_name(run)
    over = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/failover", 200, json={"dry_run": True})
    steps = steps_by_name(over)
    assert steps["scale_down"]["objects"] == ["deployments.apps shop/web: 2 -> 0"]
    assert "configmaps shop/settings" in steps["restore"]["objects"]
    assert "namespaces shop" in steps["restore"]["objects"]
    assert steps["final_backup"]["objects"] == ["namespace shop"]

    assert (len(env.source.fake.writes()), len(env.target.fake.writes())) == before
    assert (await env.ok("GET", "/api/v1/backups"))["total"] == backups_before
    assert _apps(env, "source").read_namespaced_deployment("web", "shop").spec.replicas == 2
    assert (await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}"))["active_cluster"] == env.src


async def test_a_second_runbook_while_one_runs_gets_409(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    plan = await create_plan(env, env.extra["location"], unique("busy"))
    first = await env.ok("POST", f"/api/v1/dr/plans/{plan['id']}/failover", 202, json={})
    second = await env.call("POST", f"/api/v1/dr/plans/{plan['id']}/failover", json={})
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "run_in_progress" and second.json()["run_id"] == first["id"]
    busy = await env.call("DELETE", f"/api/v1/dr/plans/{plan['id']}")
    assert busy.status_code == 409
    done = await wait_run(env, plan["id"], first["id"], kind="runbooks")
    assert done["phase"] == "Completed", done["steps"]


async def test_a_failed_step_stops_the_runbook_with_what_to_do_next(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    plan = await create_plan(env, env.extra["location"], unique("stop"))
    env.source.stop()  # down, and never backed up: nothing to restore from
    run = await _runbook(env, plan, "failover")
    assert run["phase"] == "Failed" and run["passed"] is False
    steps = steps_by_name(run)
    assert steps["restore"]["status"] == "failed" and steps["wait_for_ready"]["status"] == "pending"
    assert run["failed_checks"][0]["step"] == "restore" and run["error"].startswith(
        "restore: no Completed backup"
    )
    assert run["next_action"] and "retry" in run["next_action"]
    assert (await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}"))["active_cluster"] == env.src
    back = await env.call("POST", f"/api/v1/dr/plans/{plan['id']}/failback")
    assert back.status_code == 409 and back.json()["error"]["code"] == "wrong_side"
