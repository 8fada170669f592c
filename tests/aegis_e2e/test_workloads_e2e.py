"""Workloads a real API server is strict about, backed up and restored into a mapped namespace of the
same cluster: a standalone Job (generated selector), a NodePort Service (allocated ports) and a CronJob
(served only as batch/v1beta1 on 1.20, i.e. not in the batch group's preferred version)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from aegis.backups.phase import Phase
from aegis.backups.runner import run_backup
from aegis.backups.spec import BackupSpec
from aegis.kube.connection import ClusterConnection
from aegis.restores.runner import run_restore
from aegis.restores.spec import RestoreSpec
from aegis.storage.local import LocalStorage

if TYPE_CHECKING:
    from .conftest import KubeEnv

pytestmark = pytest.mark.k8s_e2e

POD = {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}


def _populate(api, ns: str) -> None:  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": ns}})
    client.BatchV1Api(api).create_namespaced_job(
        ns, {"metadata": {"name": "migrate"}, "spec": {"template": {"spec": POD}}}
    )
    core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        },
    )
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "batch",
        "v1beta1",
        ns,
        "cronjobs",
        {
            "apiVersion": "batch/v1beta1",
            "kind": "CronJob",
            "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": POD}}}},
        },
    )


def test_job_nodeport_service_and_cronjob_round_trip(kube_env: KubeEnv, tmp_path: Path) -> None:
    ns = f"wl-{uuid.uuid4().hex[:6]}"
    storage = LocalStorage(tmp_path / "store")
    with kube_env.api_client() as api:
        _populate(api, ns)
        backup = run_backup(
            ClusterConnection(api),
            BackupSpec(name="wl", cluster="src", included_namespaces=[ns]),
            storage,
            "backups/wl.tar.gz",
            work_dir=tmp_path,
        )
        assert backup.phase == Phase.COMPLETED, backup.errors
        assert backup.counts.get("jobs.batch") == 1
        assert backup.counts.get("cronjobs.batch") == 1  # served outside batch's preferred version on 1.20
        assert backup.counts.get("services") == 1

        restore = run_restore(
            ClusterConnection(api),
            storage,
            "backups/wl.tar.gz",
            backup.sha256,
            RestoreSpec(name="r1", namespace_mapping={ns: f"{ns}-copy"}),
            work_dir=tmp_path,
        )
        assert restore.phase == Phase.COMPLETED, [r for r in restore.results if r.outcome == "failed"]
        job = client.BatchV1Api(api).read_namespaced_job("migrate", f"{ns}-copy")
        assert job.metadata.labels["aegis.oco/restore"] == "r1"
        original = client.CoreV1Api(api).read_namespaced_service("web", ns)
        copy = client.CoreV1Api(api).read_namespaced_service("web", f"{ns}-copy")
        assert copy.spec.ports[0].node_port != original.spec.ports[0].node_port  # a fresh allocation
        cronjob = client.CustomObjectsApi(api).get_namespaced_custom_object(
            "batch", "v1beta1", f"{ns}-copy", "cronjobs", "nightly"
        )
        assert cronjob["spec"]["schedule"] == "0 3 * * *"
