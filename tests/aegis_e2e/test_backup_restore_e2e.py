"""Backup and restore through the aegis API against two real kube-apiservers (scripts/kube-testenv.sh):
config maps, secrets, services, deployments, a CRD and its custom resources, restored with a namespace
mapping into the second server; skip vs update, and an update over an unchanged target that writes nothing."""

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
from prometheus_client.parser import text_string_to_metric_families

from aegis.app import create_app
from aegis.kube.transport import KubeTransport
from tests.aegis.api_env import aegis_settings

if TYPE_CHECKING:
    from .conftest import KubeEnv

pytestmark = pytest.mark.k8s_e2e

GROUP = "aegis-e2e.oco.dev"
CRD_NAME = f"gadgets.{GROUP}"
FINISHED = ("Completed", "PartiallyFailed", "Failed")


def _gadget_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def _wait_established(api: ApiClient, timeout_s: float = 30.0) -> None:
    ext = client.ApiextensionsV1Api(api)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        crd = ext.read_custom_resource_definition(CRD_NAME)
        conditions = (crd.status.conditions if crd.status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise AssertionError(f"{CRD_NAME} not Established within {timeout_s}s")


def _populate(api: ApiClient, namespaces: list[str]) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    try:
        client.ApiextensionsV1Api(api).create_custom_resource_definition(_gadget_crd())
    except ApiException as exc:
        if exc.status != 409:
            raise
    _wait_established(api)
    labels = {"app": "web"}
    for ns in namespaces:
        core.create_namespace({"metadata": {"name": ns, "labels": {"team": ns}}})
        core.create_namespaced_config_map(
            ns, {"metadata": {"name": "settings", "labels": labels}, "data": {"ns": ns}}
        )
        core.create_namespaced_secret(
            ns, {"metadata": {"name": "creds"}, "type": "Opaque", "data": {"password": "czNjcjN0"}}
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
                "metadata": {"name": "web", "labels": labels},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                    },
                },
            },
        )
        body = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1"},
            "spec": {"size": 3},
        }
        deadline = time.monotonic() + 10
        while True:  # the resource may 404 for a moment after Established
            try:
                client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, "v1", ns, "gadgets", body)
                break
            except ApiException as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


#: What the backup holds (kube-apiserver's request metric names resources by plural).
RESTORED_RESOURCES = frozenset(
    {"configmaps", "secrets", "services", "deployments", "namespaces", "gadgets", "customresourcedefinitions"}
)


def _write_requests(api: ApiClient) -> dict[str, float]:
    """Write requests (not dry runs) the API server has answered for the restored resources, by verb,
    from its own apiserver_request_total metric."""
    text = KubeTransport(api).request("GET", "/metrics").data.decode()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "apiserver_request_total"
                and labels.get("verb") in {"POST", "PUT", "PATCH", "DELETE", "APPLY"}
                and labels.get("resource") in RESTORED_RESOURCES
                and not labels.get("dry_run")
            ):
                counts[labels["verb"]] = counts.get(labels["verb"], 0) + sample.value
    return counts


async def _wait(http, path: str, headers: dict[str, str], timeout: float = 120.0) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        record = (await http.get(path, headers=headers)).json()
        if record["phase"] in FINISHED:
            return record
        assert time.monotonic() < deadline, f"{path} still {record['phase']}"
        await asyncio.sleep(0.2)


async def test_backup_and_restore_between_real_apiservers(  # type: ignore[no-untyped-def]
    kube_env: KubeEnv, kube_env_target: KubeEnv, settings, serve_app, keystore, unique, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    namespaces = [f"shop-{suffix}", f"blog-{suffix}"]
    mapping = {ns: f"{ns}-copy" for ns in namespaces}
    source, target = kube_env.api_client(), kube_env_target.api_client()
    try:
        await asyncio.to_thread(_populate, source, namespaces)
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

        listed = (await http.get("/api/v1/clusters", headers=headers)).json()["items"]
        assert all(c["reachable"] and c["version"].startswith("v1.") for c in listed), listed
        location = unique("disk")
        made = await http.post(
            "/api/v1/storage-locations",
            json={"name": location, "type": "local", "path": str(tmp_path / "store")},
            headers=headers,
        )
        assert made.status_code == 201, made.text

        started = await http.post(
            "/api/v1/backups",
            json={"cluster": "prod", "storage_location": location, "included_namespaces": namespaces},
            headers=headers,
        )
        assert started.status_code == 202, started.text
        backup = await _wait(http, f"/api/v1/backups/{started.json()['id']}", headers)
        assert backup["phase"] == "Completed", backup
        counts = backup["counts"]
        for resource in (
            "configmaps",
            "secrets",
            "services",
            "deployments.apps",
            f"gadgets.{GROUP}",
            "namespaces",
        ):
            assert counts.get(resource, 0) >= 2, (resource, counts)
        assert counts["customresourcedefinitions.apiextensions.k8s.io"] == 1  # auto: the CRD its objects need

        async def restore(**body: Any) -> dict[str, Any]:
            answer = await http.post(
                "/api/v1/restores",
                json={"backup_id": backup["id"], "cluster": "dr", "namespace_mapping": mapping, **body},
                headers=headers,
            )
            assert answer.status_code == 202, answer.text
            return await _wait(http, f"/api/v1/restores/{answer.json()['id']}", headers)

        first = await restore()
        assert first["phase"] == "Completed", [
            i for i in first["results"]["items"] if i["outcome"] == "failed"
        ]
        assert first["results"]["failed"] == 0 and first["results"]["created"] >= 11

        core, apps = client.CoreV1Api(target), client.AppsV1Api(target)
        for ns in namespaces:
            copy = mapping[ns]
            cm = core.read_namespaced_config_map("settings", copy)
            assert cm.data == {"ns": ns}
            assert cm.metadata.labels["aegis.oco/backup"] == backup["name"]
            assert cm.metadata.labels["aegis.oco/restore"] == first["name"]
            assert core.read_namespaced_secret("creds", copy).data == {"password": "czNjcjN0"}
            service = core.read_namespaced_service("web", copy)
            assert service.spec.cluster_ip and service.metadata.labels["aegis.oco/backup"] == backup["name"]
            assert apps.read_namespaced_deployment("web", copy).spec.replicas == 2
            gadget = client.CustomObjectsApi(target).get_namespaced_custom_object(
                GROUP, "v1", copy, "gadgets", "g1"
            )
            assert gadget["spec"] == {"size": 3}
            assert gadget["metadata"]["labels"]["aegis.oco/restore"] == first["name"]
            assert core.read_namespace(copy).metadata.labels["team"] == ns
        await asyncio.to_thread(_wait_established, target)

        # Skip: a changed object stays as it is.
        shop_copy = mapping[namespaces[0]]
        live = core.read_namespaced_config_map("settings", shop_copy)
        live.data = {"ns": "changed"}
        core.replace_namespaced_config_map("settings", shop_copy, live)
        skipped = await restore()
        assert skipped["phase"] == "Completed"
        assert skipped["results"]["created"] == 0 and skipped["results"]["failed"] == 0
        assert skipped["results"]["skipped"] == first["results"]["created"]
        assert core.read_namespaced_config_map("settings", shop_copy).data == {"ns": "changed"}

        # Update: only what differs from the backup is replaced; what a real API server added on
        # create (defaults, cluster IPs, the namespace-name label) is no difference.
        updated = await restore(existing_resource_policy="update")
        failures = [i for i in updated["results"]["items"] if i["outcome"] == "failed"]
        assert updated["phase"] == "Completed" and not failures, failures
        replaced = [
            (i["resource"], i["namespace"], i["name"])
            for i in updated["results"]["items"]
            if i["outcome"] == "updated"
        ]
        assert replaced == [("configmaps", shop_copy, "settings")], updated["results"]["items"]
        assert updated["results"]["unchanged"] == first["results"]["created"] - 1
        assert core.read_namespaced_config_map("settings", shop_copy).data == {"ns": namespaces[0]}

        # And again over an unchanged target: all unchanged, not one write request reaches the server.
        writes_before = await asyncio.to_thread(_write_requests, target)
        assert writes_before["POST"] >= first["results"]["created"] and writes_before["PUT"] >= 1
        again = await restore(existing_resource_policy="update")
        assert again["phase"] == "Completed", again
        unchanged = [i for i in again["results"]["items"] if i["outcome"] != "unchanged"]
        assert not unchanged and again["results"]["unchanged"] == first["results"]["created"], unchanged
        assert await asyncio.to_thread(_write_requests, target) == writes_before
    finally:
        source.close()
        target.close()
