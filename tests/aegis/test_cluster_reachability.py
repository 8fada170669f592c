"""Runs on an unreachable cluster are refused up front: POST /backups and /restores answer 409
``cluster_unreachable`` with the reason and record nothing, a reachable cluster is still accepted (202), a
schedule firing on an unreachable cluster still records its Failed backup, and the known state is reused
while fresh."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from aegis.backups.tables import backup_records
from aegis.clusters.service import ClusterService
from aegis.kube.clusters import ClusterRegistry
from aegis.restores.tables import restore_records
from oco.errors import Conflict
from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.fake_kube import FakeKubeServer
from tests.aegis.scenario import populate


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube, client_for) -> AegisEnv:  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    return await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)


def _refusal(response, cluster: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "cluster_unreachable" and error["param"] == "cluster"
    assert f"cluster {cluster!r} is unreachable" in error["message"]
    assert "Connection refused" in error["message"]  # the reason, not just the verdict
    return error["message"]


async def _count(database, table: sa.Table, *where) -> int:  # type: ignore[no-untyped-def]
    async with database.engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))).scalar_one()


async def test_a_backup_of_an_unreachable_cluster_is_refused_and_not_recorded(  # type: ignore[no-untyped-def]
    env: AegisEnv, unique, database
) -> None:
    location = unique("disk")
    await env.add_local_location(location)
    env.source.stop()
    name = unique("never")

    response = await env.call(
        "POST", "/api/v1/backups", json={"cluster": env.src, "storage_location": location, "name": name}
    )

    _refusal(response, env.src)
    assert await _count(database, backup_records, backup_records.c.cluster == env.src) == 0
    assert await _count(database, backup_records, backup_records.c.name == name) == 0
    started = await env.ok(
        "POST", "/api/v1/backups", 202, json={"cluster": env.dr, "storage_location": location}
    )
    assert (await env.wait_for(f"/api/v1/backups/{started['id']}"))["phase"] == "Completed"
    clusters = {c["name"]: c for c in (await env.ok("GET", "/api/v1/clusters"))["items"]}
    assert clusters[env.src]["reachable"] is False and clusters[env.src]["error"]
    assert clusters[env.dr]["reachable"] is True


async def test_a_restore_into_an_unreachable_cluster_is_refused_and_not_recorded(  # type: ignore[no-untyped-def]
    env: AegisEnv, unique, database
) -> None:
    location = unique("disk")
    await env.add_local_location(location)
    backup = await env.backup(location, included_namespaces=["shop"])
    assert backup["phase"] == "Completed"
    env.target.stop()

    response = await env.call("POST", "/api/v1/restores", json={"backup_id": backup["id"], "cluster": env.dr})

    _refusal(response, env.dr)
    assert await _count(database, restore_records, restore_records.c.backup_id == backup["id"]) == 0
    restore = await env.restore(
        backup_id=backup["id"], cluster=env.src, namespace_mapping={"shop": "shop-again"}
    )
    assert restore["phase"] == "Completed"


async def test_a_schedule_firing_on_an_unreachable_cluster_records_the_failure(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
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
    env.source.stop()

    fire_at = datetime.fromisoformat(schedule["next_run_at"].replace("Z", "+00:00"))
    report = await env.app.state.scheduler.tick(now=fire_at)

    mine = [
        i
        for i in report.fired
        if (await env.ok("GET", f"/api/v1/backups/{i}"))["schedule_id"] == schedule["id"]
    ]
    [backup] = [await env.ok("GET", f"/api/v1/backups/{i}") for i in mine]
    assert backup["phase"] == "Failed" and f"cluster {env.src!r} is unreachable" in backup["error"]
    assert (await env.ok("GET", f"/api/v1/schedules/{schedule['id']}"))["last_backup_id"] == backup["id"]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _service(server: FakeKubeServer, clock: _Clock) -> ClusterService:
    registry = ClusterRegistry.from_mapping(
        {"clusters": {"c": {"kubeconfig": str(server.kubeconfig), "context": server.context}}}
    )
    return ClusterService(registry, fresh_for_s=10.0, clock=clock)


async def test_a_fresh_known_state_is_reused_and_a_stale_one_probed_again(tmp_path: Path) -> None:
    clock = _Clock()
    with FakeKubeServer(tmp_path) as server:
        service = _service(server, clock)
        await service.require_reachable("c")  # probed: reachable
        server.stop()
        clock.now += 9.0
        await service.require_reachable("c")  # still fresh: trusted, not probed
        clock.now += 2.0
        with pytest.raises(Conflict) as refused:
            await service.require_reachable("c")  # stale: probed again, refused
    assert refused.value.code == "cluster_unreachable" and refused.value.status == 409


async def test_the_cluster_listing_feeds_the_known_state(tmp_path: Path) -> None:
    clock = _Clock()
    with FakeKubeServer(tmp_path) as server:
        service = _service(server, clock)
        [listed] = await service.list()
        assert listed.reachable is True
        server.stop()
        clock.now += 5.0
        await service.require_reachable("c")  # what the listing found 5 s ago
        [listed] = await service.list()  # a listing always asks again
        assert listed.reachable is False
        with pytest.raises(Conflict):
            await service.require_reachable("c")  # known unreachable: refused without waiting


async def test_docs_name_the_refusal(env: AegisEnv) -> None:
    paths = (await env.ok("GET", "/openapi.json"))["paths"]
    for path in ("/api/v1/backups", "/api/v1/restores"):
        assert "cluster_unreachable" in paths[path]["post"]["responses"]["409"]["description"]
