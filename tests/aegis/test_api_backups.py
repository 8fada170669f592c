"""The aegis API end to end over HTTP (ASGI): local storage location, backup of two namespaces from a fake
cluster, contents, streamed download, restore into a second fake cluster with a namespace mapping
(skip, update, dry run), listing and deletion."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from kubernetes import client

from aegis.backups.tables import backup_records
from tests.aegis.api_env import AegisEnv, start_env
from tests.aegis.fake_kube import FakeKubeServer, Fault
from tests.aegis.scenario import populate


@pytest.fixture
async def env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube, client_for) -> AegisEnv:  # type: ignore[no-untyped-def]
    populate(client_for(kube))
    aegis = await start_env(settings, serve_app, keystore, unique, tmp_path, kube, target_kube)
    aegis.extra["target_api"] = client_for(target_kube)
    return aegis


async def test_backup_contents_download_restore_and_delete(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = unique("disk")
    created = await env.add_local_location(location)
    assert created["name"] == location and created["type"] == "local"
    assert [loc["name"] for loc in (await env.ok("GET", "/api/v1/storage-locations"))["items"]].count(
        location
    ) == 1

    clusters = await env.call("GET", "/api/v1/clusters")
    listed = {c["name"]: c for c in clusters.json()["items"]}
    assert listed[env.src]["reachable"] and listed[env.src]["version"]
    assert env.source.token not in clusters.text and "kubeconfig" not in clusters.text

    backup = await env.backup(location, included_namespaces=["shop", "blog"], ttl_hours=48)
    assert backup["phase"] == "Completed", backup
    assert backup["items_done"] == backup["items_total"] > 20
    assert backup["errors"] == [] and backup["error"] is None
    assert backup["size_bytes"] > 0 and len(backup["sha256"]) == 64
    assert backup["counts"]["configmaps"] == 2 and backup["counts"]["widgets.example.com"] == 2
    assert backup["expires_at"] is not None and backup["progress_percent"] == 100.0
    assert backup["storage_key"] == f"backups/{backup['name']}/{backup['name']}.tar.gz"
    assert (env.tmp / "store" / backup["storage_key"]).is_file()

    contents = await env.ok("GET", f"/api/v1/backups/{backup['id']}/contents")
    items = {(i["resource"], i["group"], i["namespace"], i["name"]): i["kind"] for i in contents["items"]}
    assert contents["total"] == len(contents["items"]) == backup["items_done"]
    assert items[("configmaps", "", "shop", "settings")] == "ConfigMap"
    assert items[("widgets", "example.com", "blog", "gizmo")] == "Widget"
    assert items[("customresourcedefinitions", "apiextensions.k8s.io", None, "widgets.example.com")]
    assert ("configmaps", "", "shop", "scratch") not in items  # labelled aegis.oco/exclude-from-backup
    assert not any(ns == "other" for (_, _, ns, _) in items)

    download = await env.call("GET", f"/api/v1/backups/{backup['id']}/download")
    assert download.status_code == 200
    assert (
        hashlib.sha256(download.content).hexdigest() == backup["sha256"] == download.headers["x-aegis-sha256"]
    )
    assert int(download.headers["content-length"]) == backup["size_bytes"]
    assert backup["name"] in download.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(download.content), mode="r:gz") as tar:
        names = tar.getnames()
    assert "resources/configmaps/namespaces/shop/settings.json" in names and "metadata.json" in names

    mapping = {"shop": "shop-copy", "blog": "blog-copy"}
    restore = await env.restore(backup_id=backup["id"], cluster=env.dr, namespace_mapping=mapping)
    assert restore["phase"] == "Completed", restore
    results = restore["results"]
    assert results["failed"] == 0 and results["created"] > 10
    assert results["unchanged"] == 0
    assert results["created"] + results["skipped"] + results["updated"] == len(results["items"])
    assert {"resource": "configmaps", "namespace": "shop-copy", "name": "settings"}.items() <= next(
        i for i in results["items"] if i["resource"] == "configmaps" and i["namespace"] == "shop-copy"
    ).items()
    core = client.CoreV1Api(env.extra["target_api"])
    settings_cm = core.read_namespaced_config_map("settings", "shop-copy")
    assert settings_cm.data == {"color": "blue", "ns": "shop"}
    assert settings_cm.metadata.labels["aegis.oco/backup"] == backup["name"]
    assert settings_cm.metadata.labels["aegis.oco/restore"] == restore["name"]
    assert client.AppsV1Api(env.extra["target_api"]).read_namespaced_deployment("web", "blog-copy")
    widget = client.CustomObjectsApi(env.extra["target_api"]).get_namespaced_custom_object(
        "example.com", "v1", "blog-copy", "widgets", "gizmo"
    )
    assert widget["spec"] == {"size": 3}

    # Skip: everything exists now, nothing is written.
    live = core.read_namespaced_config_map("settings", "shop-copy")
    live.data["color"] = "red"
    core.replace_namespaced_config_map("settings", "shop-copy", live)
    skipped = await env.restore(backup_id=backup["id"], cluster=env.dr, namespace_mapping=mapping)
    assert skipped["phase"] == "Completed"
    assert skipped["results"]["created"] == 0 and skipped["results"]["skipped"] == results["created"]
    assert core.read_namespaced_config_map("settings", "shop-copy").data["color"] == "red"

    # Dry run with update: reports what it would update (the changed one) and what is unchanged.
    writes_before = _writes(env.target)
    dry = await env.restore(
        backup_id=backup["id"],
        cluster=env.dr,
        namespace_mapping=mapping,
        existing_resource_policy="update",
        dry_run=True,
        included_resources=["configmaps"],
    )
    assert dry["phase"] == "Completed" and dry["dry_run"] is True
    assert dry["results"]["updated"] == 1 and dry["results"]["unchanged"] == 1, dry["results"]
    assert dry["results"]["created"] == 0
    assert _writes(env.target) == writes_before
    assert core.read_namespaced_config_map("settings", "shop-copy").data["color"] == "red"

    # Update: the backed-up version replaces the live one.
    updated = await env.restore(
        backup_id=backup["id"],
        cluster=env.dr,
        namespace_mapping=mapping,
        existing_resource_policy="update",
        included_resources=["configmaps"],
        included_namespaces=["shop"],
    )
    assert updated["phase"] == "Completed" and updated["results"]["updated"] == 1, updated["results"]
    assert core.read_namespaced_config_map("settings", "shop-copy").data["color"] == "blue"

    page = await env.ok("GET", "/api/v1/restores", params={"backup_id": backup["id"]})
    assert page["total"] == 4 and all(r["results"]["items"] == [] for r in page["items"])
    one = await env.ok("GET", f"/api/v1/restores/{updated['id']}")
    assert one["results"]["items"] and one["results"]["updated"] == 1
    everything = one["results"]["items"]
    assert one["results"]["items_matching"] == len(everything) >= 2
    only_updated = await env.ok("GET", f"/api/v1/restores/{updated['id']}", params={"outcome": "updated"})
    assert [i["outcome"] for i in only_updated["results"]["items"]] == ["updated"]
    assert only_updated["results"]["items_matching"] == 1
    page = await env.ok(
        "GET", f"/api/v1/restores/{updated['id']}", params={"items_offset": 1, "items_limit": 1}
    )
    assert page["results"]["items"] == everything[1:2] and page["results"]["items_matching"] == len(
        everything
    )
    bad = await env.call("GET", f"/api/v1/restores/{updated['id']}", params={"outcome": "exploded"})
    assert bad.status_code == 422

    listed_backups = await env.ok("GET", "/api/v1/backups", params={"cluster": env.src, "phase": "Completed"})
    assert [b["id"] for b in listed_backups["items"]] == [backup["id"]] and listed_backups["total"] == 1

    deleted = await env.ok("DELETE", f"/api/v1/backups/{backup['id']}")
    assert deleted["phase"] == "Deleted" and deleted["deleted_at"]
    assert not (env.tmp / "store" / backup["storage_key"]).exists()
    for path in (f"/api/v1/backups/{backup['id']}/contents", f"/api/v1/backups/{backup['id']}/download"):
        gone = await env.call("GET", path)
        assert gone.status_code == 409 and gone.json()["error"]["code"] == "no_archive"
    refused = await env.call("POST", "/api/v1/restores", json={"backup_id": backup["id"]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "backup_not_restorable"
    assert (await env.ok("DELETE", f"/api/v1/backups/{backup['id']}"))["phase"] == "Deleted"  # idempotent

    in_use = await env.call("DELETE", f"/api/v1/storage-locations/{location}")
    assert in_use.status_code == 204  # only a Deleted backup refers to it now

    metrics = (await env.client.get("/metrics")).text
    assert 'aegis_backups_total{phase="Completed"}' in metrics
    assert 'aegis_restore_items_total{outcome="created"}' in metrics


def _writes(server: FakeKubeServer) -> int:
    return sum(
        1
        for r in server.fake.requests
        if r.method in ("POST", "PUT", "DELETE", "PATCH") and r.query.get("dryRun") != "All"
    )


async def test_partial_failure_names_the_item_and_reason(env: AegisEnv, unique) -> None:  # type: ignore[no-untyped-def]
    location = unique("disk")
    await env.add_local_location(location)
    env.source.fake.add_fault(
        Fault("GET", "/api/v1/namespaces/blog/secrets", 403, times=None, message="secrets is forbidden")
    )

    backup = await env.backup(location, included_namespaces=["shop", "blog"])

    assert backup["phase"] == "PartiallyFailed"
    [error] = backup["errors"]
    assert error["item"] == "secrets in namespace blog"
    assert error["reason"].startswith("403") and "secrets is forbidden" in error["reason"]
    assert backup["sha256"] and backup["counts"]["secrets"] == 1
    restore = await env.restore(backup_id=backup["id"], cluster=env.dr, included_namespaces=["shop"])
    assert restore["phase"] == "Completed"  # a partially failed backup is restorable


async def test_progress_is_written_to_the_record(env: AegisEnv, unique, database) -> None:  # type: ignore[no-untyped-def]
    location = unique("disk")
    await env.add_local_location(location)
    for i in range(1200):  # three pages of configmaps
        env.source.fake.seed(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "bulk"}}
        )
    env.source.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}})

    backup = await env.backup(location, included_namespaces=["bulk"])

    assert backup["phase"] == "Completed" and backup["counts"]["configmaps"] == 1200
    async with database.engine.connect() as conn:
        row = (
            (await conn.execute(backup_records.select().where(backup_records.c.id == backup["id"])))
            .mappings()
            .one()
        )
    assert row["items_done"] == row["items_total"] == backup["items_done"] >= 1201
    assert row["owner"] and row["heartbeat_at"] is not None


def test_clusters_file_must_parse(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from aegis.app import create_app
    from oco.settings import SettingsError
    from tests.aegis.api_env import aegis_settings

    broken = tmp_path / "clusters.yaml"
    broken.write_text("clusters: [not, a, mapping]\n")
    with pytest.raises(SettingsError, match="OCO_AEGIS_CLUSTERS"):
        create_app(aegis_settings(settings, tmp_path, broken))
    with pytest.raises(SettingsError, match="OCO_AEGIS_ENCRYPTION_KEY"):
        create_app(aegis_settings(settings, tmp_path, None, oco_aegis_encryption_key="not-base64!"))
