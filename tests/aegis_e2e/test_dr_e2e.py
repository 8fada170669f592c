"""A DR drill against real API servers (source and target kube-apiservers, no controllers): the restore into
drill namespaces works, readiness times out naming the Deployment (only a controller reports replicas
available), and a plan with readiness off passes and deletes its drill namespaces."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml
from kubernetes import client

from aegis.app import create_app
from tests.aegis.api_env import aegis_settings

if TYPE_CHECKING:
    from .conftest import KubeEnv

pytestmark = pytest.mark.k8s_e2e


def _populate(api: Any, ns: str) -> None:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    client.CoreV1Api(api).create_namespaced_config_map(
        ns, {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    labels = {"app": "web"}
    client.AppsV1Api(api).create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                },
            },
        },
    )


async def _poll(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], done: tuple[str, ...]
) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        record = (await http.get(path, headers=headers)).json()
        if record["phase"] in done:
            return record
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.1)


async def test_drill_on_real_apiservers(  # type: ignore[no-untyped-def]
    settings, serve_app, keystore, unique, tmp_path: Path, kube_env: KubeEnv, kube_env_target: KubeEnv
) -> None:
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text(
        yaml.safe_dump(
            {
                "clusters": {
                    "src": {"kubeconfig": str(kube_env.kubeconfig)},
                    "dr": {"kubeconfig": str(kube_env_target.kubeconfig)},
                }
            }
        )
    )
    http = await serve_app(create_app(aegis_settings(settings, tmp_path, clusters)))
    headers = {"X-API-Key": (await keystore.create(unique("e2e"), ["aegis"])).plaintext}
    ns, location = unique("shop"), unique("disk")
    source, target = kube_env.api_client(), kube_env_target.api_client()
    try:
        _populate(source, ns)
        created = await http.post(
            "/api/v1/storage-locations",
            json={"name": location, "type": "local", "path": str(tmp_path / "store")},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        backup = (
            await http.post(
                "/api/v1/backups",
                json={"cluster": "src", "storage_location": location, "included_namespaces": [ns]},
                headers=headers,
            )
        ).json()
        backup = await _poll(
            http, f"/api/v1/backups/{backup['id']}", headers, ("Completed", "PartiallyFailed", "Failed")
        )
        assert backup["phase"] == "Completed", backup

        async def drill(readiness: dict[str, Any]) -> dict[str, Any]:
            plan = (
                await http.post(
                    "/api/v1/dr/plans",
                    json={
                        "name": unique("plan"),
                        "source_cluster": "src",
                        "target_cluster": "dr",
                        "included_namespaces": [ns],
                        "storage_location": location,
                        "rpo_minutes": 60,
                        "rto_minutes": 30,
                        "readiness": readiness,
                    },
                    headers=headers,
                )
            ).json()
            started = (
                await http.post(f"/api/v1/dr/plans/{plan['id']}/drills", json={}, headers=headers)
            ).json()
            return await _poll(
                http,
                f"/api/v1/dr/plans/{plan['id']}/drills/{started['id']}",
                headers,
                ("Completed", "Failed"),
            )

        waited = await drill({"workloads_available": True, "timeout_s": 3})
        assert waited["phase"] == "Failed", waited
        [check] = waited["failed_checks"]
        drill_ns = waited["namespaces"][ns]
        assert check["step"] == "wait_for_ready" and check["check"] == "workloads_available"
        assert f"deployments.apps {drill_ns}/web (0/1 available)" in check["reason"]
        assert {s["name"]: s["status"] for s in waited["steps"]}["restore"] == "succeeded"

        passed = await drill({"workloads_available": False})
        assert passed["phase"] == "Completed" and passed["passed"] is True, passed
        drill_ns = passed["namespaces"][ns]
        # the restore really landed, and the namespace was deleted (no namespace controller: it stays Terminating)
        core = client.CoreV1Api(target)
        try:
            phase = core.read_namespace(drill_ns).status.phase
        except client.ApiException as exc:
            assert exc.status == 404
        else:
            assert phase == "Terminating"
        assert {s["name"]: s["status"] for s in passed["steps"]}["cleanup"] == "succeeded"
    finally:
        source.close()
        target.close()
