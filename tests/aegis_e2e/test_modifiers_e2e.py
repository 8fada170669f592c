"""Restores that transform, against two real kube-apiservers (scripts/kube-testenv.sh): resource modifiers
and storage_class_mapping change the objects the real server stores; a patch that does not apply fails only
its object, and a patched object the server refuses fails with the server's reason."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from aegis.app import create_app
from tests.aegis.api_env import aegis_settings

if TYPE_CHECKING:
    from .conftest import KubeEnv

pytestmark = pytest.mark.k8s_e2e

FINISHED = ("Completed", "PartiallyFailed", "Failed")
REGISTRY = "registry.dr.example.com"


def _populate(api: ApiClient, ns: str) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": ns}})
    labels = {"app": "web"}
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "settings", "labels": labels}, "data": {"color": "blue"}}
    )
    core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "web", "labels": labels},
            "spec": {"selector": labels, "ports": [{"port": 80}]},
        },
    )
    apps.create_namespaced_deployment(
        ns,
        {
            "metadata": {
                "name": "web",
                "labels": labels,
                "annotations": {"deploy.example.com/rev": "7", "team": "shop"},
            },
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "docker.io/library/nginx:1.27"}]},
                },
            },
        },
    )
    claim_spec = {
        "storageClassName": "standard",
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    core.create_namespaced_persistent_volume_claim(ns, {"metadata": {"name": "data"}, "spec": claim_spec})
    db = {"app": "db"}
    apps.create_namespaced_stateful_set(
        ns,
        {
            "metadata": {"name": "db", "labels": db},
            "spec": {
                "replicas": 3,
                "serviceName": "db",
                "selector": {"matchLabels": db},
                "template": {
                    "metadata": {"labels": db},
                    "spec": {"containers": [{"name": "db", "image": "postgres:17"}]},
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim_spec}],
            },
        },
    )


async def _wait(http, path: str, headers: dict[str, str], timeout: float = 120.0) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        record = (await http.get(path, headers=headers)).json()
        if record["phase"] in FINISHED:
            return record
        assert time.monotonic() < deadline, f"{path} still {record['phase']}"
        await asyncio.sleep(0.2)


async def test_restore_with_modifiers_into_a_real_apiserver(  # type: ignore[no-untyped-def]
    kube_env: KubeEnv, kube_env_target: KubeEnv, settings, serve_app, keystore, unique, tmp_path: Path
) -> None:
    ns = f"shop-{uuid.uuid4().hex[:6]}"
    copy = f"{ns}-dr"
    source, target = kube_env.api_client(), kube_env_target.api_client()
    try:
        await asyncio.to_thread(_populate, source, ns)
        clusters = tmp_path / "clusters.yaml"
        clusters.write_text(
            yaml.safe_dump(
                {
                    "clusters": {
                        "prod": {"kubeconfig": str(kube_env.kubeconfig)},
                        "dr": {"kubeconfig": str(kube_env_target.kubeconfig)},
                    }
                }
            )
        )
        http = await serve_app(create_app(aegis_settings(settings, tmp_path, clusters)))
        headers = {"X-API-Key": (await keystore.create(unique("e2e"), ["aegis"])).plaintext}
        location = unique("disk")
        made = await http.post(
            "/api/v1/storage-locations",
            json={"name": location, "type": "local", "path": str(tmp_path / "store")},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        started = await http.post(
            "/api/v1/backups",
            json={"cluster": "prod", "storage_location": location, "included_namespaces": [ns]},
            headers=headers,
        )
        assert started.status_code == 202, started.text
        backup = await _wait(http, f"/api/v1/backups/{started.json()['id']}", headers)
        assert backup["phase"] == "Completed", backup

        answer = await http.post(
            "/api/v1/restores",
            json={
                "backup_id": backup["id"],
                "cluster": "dr",
                "namespace_mapping": {ns: copy},
                "storage_class_mapping": {"standard": "premium"},
                "resource_modifiers": [
                    {
                        "resources": ["apps/deployments"],
                        "json_patch": [
                            {"op": "test", "path": "/spec/replicas", "value": 4},
                            {
                                "op": "replace",
                                "path": "/spec/template/spec/containers/0/image",
                                "value": f"{REGISTRY}/library/nginx:1.27",
                            },
                            {"op": "remove", "path": "/metadata/annotations/deploy.example.com~1rev"},
                        ],
                    },
                    {
                        "resources": ["deployments.apps", "statefulsets.apps"],
                        "merge_patch": {"spec": {"replicas": 1}},
                    },
                    {
                        "resources": ["configmaps"],
                        "json_patch": [{"op": "test", "path": "/data/color", "value": "red"}],
                    },
                    {
                        "resources": ["services"],
                        "names": ["web"],
                        "merge_patch": {"spec": {"ports": [{"port": 0}]}},
                    },
                ],
            },
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        record = await _wait(http, f"/api/v1/restores/{answer.json()['id']}", headers)

        assert record["phase"] == "PartiallyFailed", record
        items = {(i["resource"], i["name"]): i for i in record["results"]["items"]}
        failed = {key for key, i in items.items() if i["outcome"] == "failed"}
        assert failed == {("configmaps", "settings"), ("services", "web")}, failed
        assert items[("configmaps", "settings")]["modifier_error"]["rule"] == "resource_modifiers[2]"
        service = items[("services", "web")]  # patched fine, then refused by the real server's validation
        assert service["modified_by"] == ["resource_modifiers[3]"] and service["modifier_error"] is None
        assert "port" in service["message"].lower(), service["message"]

        core, apps = client.CoreV1Api(target), client.AppsV1Api(target)
        web = apps.read_namespaced_deployment("web", copy)
        assert web.spec.template.spec.containers[0].image == f"{REGISTRY}/library/nginx:1.27"
        assert web.spec.replicas == 1
        assert web.metadata.annotations == {"team": "shop"}
        db = apps.read_namespaced_stateful_set("db", copy)
        assert (
            db.spec.replicas == 1 and db.spec.volume_claim_templates[0].spec.storage_class_name == "premium"
        )
        assert core.read_namespaced_persistent_volume_claim("data", copy).spec.storage_class_name == "premium"
        for read in (core.read_namespaced_config_map, core.read_namespaced_service):
            with pytest.raises(ApiException) as missing:
                read("settings" if read is core.read_namespaced_config_map else "web", copy)
            assert missing.value.status == 404
        assert record["results"]["modifiers"] == [
            {"rule": "storage_class_mapping", "matched": 2, "applied": 2, "failed": 0},
            {"rule": "resource_modifiers[0]", "matched": 1, "applied": 1, "failed": 0},
            {"rule": "resource_modifiers[1]", "matched": 2, "applied": 2, "failed": 0},
            {"rule": "resource_modifiers[2]", "matched": 1, "applied": 0, "failed": 1},
            {"rule": "resource_modifiers[3]", "matched": 1, "applied": 1, "failed": 0},
        ]
    finally:
        source.close()
        target.close()
