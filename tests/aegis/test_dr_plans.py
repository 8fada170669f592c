"""DR plans over HTTP with two fake clusters: CRUD with validation naming the field, the schedule a plan owns,
compliance moving ok -> at_risk -> breached as the injected clock advances (and the metrics), and
remediation starting one backup, never two at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.dr_support import Clock, create_plan, parse_time, use_clock
from tests.aegis.scenario import populate


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube, client_for) -> AegisEnv:  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    aegis = await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)
    aegis.extra["location"] = unique("disk")
    await aegis.add_local_location(aegis.extra["location"])
    return aegis


async def test_plan_crud_owns_its_backup_schedule(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location, name = env.extra["location"], unique("shop")
    plan = await create_plan(
        env, location, name, backup_schedule="*/15 * * * *", drill_schedule="0 3 * * 0", owner="team-shop"
    )
    assert plan["name"] == name and plan["backup_schedule"] == "*/15 * * * *"
    assert plan["active_cluster"] == env.src and plan["enabled"] is True and plan["next_drill_at"]
    assert plan["readiness"] == {"workloads_available": True, "timeout_s": 10}
    schedule = await env.ok("GET", f"/api/v1/schedules/{plan['schedule_id']}")
    assert schedule["cron"] == "*/15 * * * *" and schedule["cluster"] == env.src
    assert schedule["spec"]["included_namespaces"] == ["shop"] and schedule["storage_location"] == location

    assert (await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}"))["owner"] == "team-shop"
    other = await create_plan(env, location, unique("blog"), included_namespaces=["blog"])
    page = await env.ok("GET", "/api/v1/dr/plans", params={"limit": 1})
    assert page["limit"] == 1 and len(page["items"]) == 1 and page["total"] >= 2

    changed = await env.ok(
        "PATCH",
        f"/api/v1/dr/plans/{plan['id']}",
        json={"rpo_minutes": 60, "backup_schedule": "0 * * * *", "included_namespaces": ["shop", "blog"]},
    )
    assert changed["rpo_minutes"] == 60 and changed["backup_schedule"] == "0 * * * *"
    schedule = await env.ok("GET", f"/api/v1/schedules/{plan['schedule_id']}")
    assert schedule["cron"] == "0 * * * *" and schedule["spec"]["included_namespaces"] == ["shop", "blog"]

    # a plan may use an existing schedule instead; a schedule of another cluster is refused
    uses = await create_plan(env, location, unique("uses"), schedule_id=plan["schedule_id"])
    assert uses["schedule_id"] == plan["schedule_id"] and uses["backup_schedule"] is None
    foreign = await env.ok(
        "POST",
        "/api/v1/schedules",
        201,
        json={"name": unique("tgt"), "cron": "0 1 * * *", "cluster": env.dr, "storage_location": location},
    )
    refused = await env.call("PATCH", f"/api/v1/dr/plans/{other['id']}", json={"schedule_id": foreign["id"]})
    assert refused.status_code == 422 and refused.json()["error"]["param"] == "schedule_id"

    assert (await env.call("DELETE", f"/api/v1/dr/plans/{plan['id']}")).status_code == 204
    assert (await env.call("GET", f"/api/v1/dr/plans/{plan['id']}")).status_code == 404
    assert (await env.call("GET", f"/api/v1/schedules/{plan['schedule_id']}")).status_code == 404
    assert (await env.call("DELETE", f"/api/v1/dr/plans/{plan['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"source_cluster": "nowhere"}, "source_cluster"),
        ({"target_cluster": "nowhere"}, "target_cluster"),
        ({"storage_location": "nowhere"}, "storage_location"),
        ({"included_namespaces": ["shop*"]}, "included_namespaces"),
        ({"included_namespaces": []}, "included_namespaces"),
        ({"backup_schedule": "every day"}, "backup_schedule"),
        ({"drill_schedule": "61 * * * *"}, "drill_schedule"),
        ({"rpo_minutes": 0}, "rpo_minutes"),
        ({"readiness": {"timeout_s": 0}}, "readiness.timeout_s"),
        ({"label_selector": "app in (web"}, "label_selector"),
        ({"schedule_id": 999999}, "schedule_id"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_invalid_plans_are_refused_naming_the_field(env: AegisEnv, unique, fields, param) -> None:  # type: ignore[no-untyped-def]
    body = {
        "name": unique("bad"),
        "source_cluster": env.src,
        "target_cluster": env.dr,
        "included_namespaces": ["shop"],
        "storage_location": env.extra["location"],
        "rpo_minutes": 30,
        "rto_minutes": 15,
        **fields,
    }
    response = await env.call("POST", "/api/v1/dr/plans", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param, response.text


async def test_same_cluster_both_schedules_and_taken_names_are_refused(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location, name = env.extra["location"], unique("dup")
    await create_plan(env, location, name)
    taken = await env.call(
        "POST",
        "/api/v1/dr/plans",
        json={
            "name": name,
            "source_cluster": env.src,
            "target_cluster": env.dr,
            "included_namespaces": ["shop"],
            "storage_location": location,
            "rpo_minutes": 1,
            "rto_minutes": 1,
        },
    )
    assert taken.status_code == 409 and taken.json()["error"]["param"] == "name"
    same = await env.call(
        "POST",
        "/api/v1/dr/plans",
        json={
            "name": unique("same"),
            "source_cluster": env.src,
            "target_cluster": env.src,
            "included_namespaces": ["shop"],
            "storage_location": location,
            "rpo_minutes": 1,
            "rto_minutes": 1,
        },
    )
    assert same.status_code == 422 and "target_cluster" in same.json()["error"]["message"]
    both = await env.call(
        "POST",
        "/api/v1/dr/plans",
        json={
            "name": unique("both"),
            "source_cluster": env.src,
            "target_cluster": env.dr,
            "included_namespaces": ["shop"],
            "storage_location": location,
            "rpo_minutes": 1,
            "rto_minutes": 1,
            "backup_schedule": "* * * * *",
            "schedule_id": 1,
        },
    )
    assert both.status_code == 422 and "not both" in both.json()["error"]["message"]


async def test_compliance_moves_from_ok_to_at_risk_to_breached(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location, name = env.extra["location"], unique("rpo")
    plan = await create_plan(env, location, name, rpo_minutes=30)
    clock = Clock()
    use_clock(env, clock)
    status = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/status")
    assert status["rpo_status"] == "breached" and status["achieved_rpo_s"] is None  # nothing covers it yet
    assert (
        status["last_drill"] is None and status["rto_status"] == "unknown" and status["rpo_target_s"] == 1800
    )

    other = await env.backup(location, included_namespaces=["blog"])  # does not cover the plan's scope
    assert other["phase"] == "Completed"
    assert (await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/status"))["last_backup_id"] is None
    backup = await env.backup(location, included_namespaces=["shop", "blog"])
    finished = parse_time(backup["finished_at"])

    expected = [(10, "ok", 0), (25, "at_risk", 1), (30, "at_risk", 1), (31, "breached", 2)]
    for minutes, rpo_status, gauge in expected:
        clock.set(finished + timedelta(minutes=minutes))
        status = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/status")
        assert status["rpo_status"] == rpo_status, (minutes, status)
        assert status["achieved_rpo_s"] == pytest.approx(minutes * 60, abs=0.01)
        assert status["last_backup_id"] == backup["id"]
        assert parse_time(status["last_backup_at"]) == finished
        assert status["remediation"] is None  # remediate is off
        metrics = (await env.client.get("/metrics")).text
        assert f'oco_aegis_plan_status{{plan="{name}"}} {gauge}.0' in metrics
        assert f'oco_aegis_rpo_seconds{{plan="{name}"}} {float(minutes * 60)}' in metrics
        assert f'oco_aegis_rpo_target_seconds{{plan="{name}"}} 1800.0' in metrics
        assert f'oco_aegis_rto_target_seconds{{plan="{name}"}} {float(plan["rto_minutes"] * 60)}' in metrics


async def test_remediation_starts_one_backup_when_the_rpo_is_breached(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = env.extra["location"]
    plan = await create_plan(
        env, location, unique("fix"), rpo_minutes=5, remediate=True, backup_schedule="0 0 1 1 *"
    )
    clock = Clock()
    use_clock(env, clock)
    first, second = await asyncio.gather(
        env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/status"),
        env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/status"),
    )
    remediations = [first["remediation"], second["remediation"]]
    started = [r for r in remediations if r["started"]]
    assert len(started) == 1, remediations
    backup_id = started[0]["backup_id"]
    assert all(r["backup_id"] in (backup_id, None) for r in remediations)
    backup = await env.wait_for(f"/api/v1/backups/{backup_id}")
    assert backup["phase"] == "Completed" and backup["created_by"] == "dr-remediation"
    assert backup["schedule_id"] == plan["schedule_id"]
    assert backup["spec"]["included_namespaces"] == ["shop"]

    clock.set(parse_time(backup["finished_at"]) + timedelta(minutes=1))
    status = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}/status")
    assert status["rpo_status"] == "ok" and status["remediation"] is None

    # the scheduler's tick checks compliance too: breached again -> one more backup
    clock.set(parse_time(backup["finished_at"]) + timedelta(minutes=10))
    await env.app.state.scheduler.tick(clock.now)
    fresh = await env.ok("GET", f"/api/v1/dr/plans/{plan['id']}")
    listed = await env.ok("GET", "/api/v1/backups", params={"schedule_id": plan["schedule_id"]})
    mine = [b for b in listed["items"] if b["created_by"] == "dr-remediation"]
    assert len(mine) == 2 and fresh["id"] == plan["id"]
