"""Schedules through the API and the scheduler's tick with an injected clock: firing, missed runs counted and
run once, no double firing, pause/resume, keep-last-N and TTL retention deleting archives, the lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aegis.schedules.cron import fires_between, next_fire, parse_cron
from aegis.schedules.scheduler import LOCK_NAME, Scheduler
from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.scenario import populate


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube, client_for) -> AegisEnv:  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    return await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)


def _at(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _finish(env: AegisEnv, backup_ids: list[int]) -> list[dict]:
    return [await env.wait_for(f"/api/v1/backups/{i}") for i in backup_ids]


async def _fired(env: AegisEnv, report, schedule_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    """The backups a tick started for this schedule (the database is shared with other tests' schedules)."""
    mine = []
    for backup_id in report.fired:
        if (await env.ok("GET", f"/api/v1/backups/{backup_id}"))["schedule_id"] == schedule_id:
            mine.append(backup_id)
    return mine


async def test_schedule_fires_counts_missed_runs_and_keeps_the_last_n(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = unique("disk")
    await env.add_local_location(location)
    name = unique("every5")
    schedule = await env.ok(
        "POST",
        "/api/v1/schedules",
        201,
        json={
            "name": name,
            "cron": "*/5  * * * *",
            "timezone": "Europe/Paris",
            "keep_last": 2,
            "cluster": env.src,
            "storage_location": location,
            "included_namespaces": ["shop"],
        },
    )
    assert schedule["cron"] == "*/5 * * * *" and schedule["enabled"] and schedule["missed_runs"] == 0
    due = _at(schedule["next_run_at"])
    assert due.minute % 5 == 0 and due > datetime.now(UTC) - timedelta(seconds=1)
    scheduler: Scheduler = env.app.state.scheduler

    # Not due yet: nothing happens.
    assert await _fired(env, await scheduler.tick(now=due - timedelta(seconds=1)), schedule["id"]) == []

    # The scheduler was down across three fire times: one run, two missed.
    report = await scheduler.tick(now=due + timedelta(minutes=11))
    fired = await _fired(env, report, schedule["id"])
    assert len(fired) == 1 and report.missed[name] == 2
    [first] = await _finish(env, fired)
    assert first["phase"] == "Completed" and first["schedule_id"] == schedule["id"]
    fire_time = due + timedelta(minutes=10)
    assert first["name"] == f"{name}-{fire_time:%Y%m%d%H%M%S}"
    state = await env.ok("GET", f"/api/v1/schedules/{schedule['id']}")
    assert state["missed_runs"] == 2 and state["last_backup_id"] == first["id"]
    assert _at(state["next_run_at"]) == due + timedelta(minutes=15)
    assert state["last_success_at"] is not None

    # The same instant again: already advanced, nothing fires twice.
    assert await _fired(env, await scheduler.tick(now=due + timedelta(minutes=11)), schedule["id"]) == []

    # Two more runs: keep_last=2 deletes the oldest archive and marks it Deleted.
    ids = [first["id"]]
    for minutes in (15, 20):
        report = await scheduler.tick(now=due + timedelta(minutes=minutes))
        fired = await _fired(env, report, schedule["id"])
        assert len(fired) == 1 and name not in report.missed
        ids.extend(b["id"] for b in await _finish(env, fired))
    report = await scheduler.tick(now=due + timedelta(minutes=21))
    assert ids[0] in report.deleted and not set(ids[1:]) & set(report.deleted)
    oldest = await env.ok("GET", f"/api/v1/backups/{ids[0]}")
    assert oldest["phase"] == "Deleted" and not (env.tmp / "store" / oldest["storage_key"]).exists()
    page = await env.ok("GET", "/api/v1/backups", params={"schedule_id": schedule["id"]})
    assert [b["phase"] for b in page["items"]] == ["Completed", "Completed", "Deleted"]

    metrics = (await env.client.get("/metrics")).text
    assert f'aegis_schedule_last_success_timestamp_seconds{{schedule="{name}"}}' in metrics
    assert f'aegis_schedule_missed_runs_total{{schedule="{name}"}} 2.0' in metrics

    # Paused: not due any more. Resumed: next run computed from now.
    paused = await env.ok("PATCH", f"/api/v1/schedules/{schedule['id']}", json={"enabled": False})
    assert paused["enabled"] is False and paused["next_run_at"] is None
    assert await _fired(env, await scheduler.tick(now=due + timedelta(days=1)), schedule["id"]) == []
    resumed = await env.ok(
        "PATCH",
        f"/api/v1/schedules/{schedule['id']}",
        json={"enabled": True, "cron": "0 3 * * *", "keep_last": None},
    )
    assert resumed["keep_last"] is None
    assert _at(resumed["next_run_at"]) > datetime.now(UTC) and _at(resumed["next_run_at"]).hour in (1, 2)

    deleted = await env.call("DELETE", f"/api/v1/schedules/{schedule['id']}")
    assert deleted.status_code == 204
    kept = await env.ok("GET", f"/api/v1/backups/{ids[-1]}")
    assert kept["phase"] == "Completed" and kept["schedule_id"] is None


async def test_ttl_expires_backups_and_deletes_their_archives(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = unique("disk")
    await env.add_local_location(location)
    short = await env.backup(location, included_namespaces=["blog"], ttl_hours=1)
    forever = await env.backup(location, included_namespaces=["blog"], ttl_hours=0)
    assert short["expires_at"] is not None and forever["expires_at"] is None
    scheduler: Scheduler = env.app.state.scheduler

    early = await scheduler.tick(now=_at(short["expires_at"]) - timedelta(minutes=1))
    assert short["id"] not in early.deleted
    report = await scheduler.tick(now=datetime.now(UTC) + timedelta(hours=2))

    assert short["id"] in report.deleted and forever["id"] not in report.deleted
    expired = await env.ok("GET", f"/api/v1/backups/{short['id']}")
    assert expired["phase"] == "Deleted" and not (env.tmp / "store" / short["storage_key"]).exists()
    assert (env.tmp / "store" / forever["storage_key"]).exists()


async def test_a_scheduled_run_that_cannot_start_is_recorded_failed(  # type: ignore[no-untyped-def]
    settings, serve_app, keystore, unique, tmp_path, kube, target_kube
) -> None:
    env = await start_env(
        settings, serve_app, keystore, unique, tmp_path, kube, target_kube, oco_aegis_require_encryption=True
    )
    location = unique("disk")
    await env.add_local_location(location)
    schedule = await env.ok(
        "POST",
        "/api/v1/schedules",
        201,
        json={
            "name": unique("hourly"),
            "cron": "0 * * * *",
            "cluster": env.src,
            "storage_location": location,
        },
    )

    report = await env.app.state.scheduler.tick(now=_at(schedule["next_run_at"]))

    [backup_id] = await _fired(env, report, schedule["id"])
    backup = await env.ok("GET", f"/api/v1/backups/{backup_id}")
    assert backup["phase"] == "Failed" and "encryption is required" in backup["error"]
    assert backup["schedule_id"] == schedule["id"] and backup["sha256"] is None
    assert not any((env.tmp / "store").rglob("*.tar.gz"))


async def test_only_the_lock_holder_ticks(env: AegisEnv) -> None:
    scheduler: Scheduler = env.app.state.scheduler
    async with env.app.state.kv.lock(LOCK_NAME, ttl_s=10):
        assert await scheduler.tick_locked() is None
    assert await scheduler.tick_locked() is not None


def test_cron_arithmetic_across_daylight_saving() -> None:
    assert parse_cron(" 30  2 * * * ") == "30 2 * * *"
    # Europe/Paris springs forward on 2025-03-30 (02:00 -> 03:00): 02:30 does not exist that night.
    after = datetime(2025, 3, 29, 12, 0, tzinfo=UTC)
    assert next_fire("0 3 * * *", "Europe/Paris", after) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    assert next_fire("0 3 * * *", "UTC", after) == datetime(2025, 3, 30, 3, 0, tzinfo=UTC)
    first = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    count, latest = fires_between("0 * * * *", "UTC", first, first + timedelta(hours=5, minutes=30))
    assert (count, latest) == (6, first + timedelta(hours=5))
