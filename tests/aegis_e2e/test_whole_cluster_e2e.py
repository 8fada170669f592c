"""A backup of every namespace with include_cluster_resources=auto takes the cluster-scoped resources too
(as Velero does), and restores them into a second API server: what it lacks is created, what it has is
skipped. A label selector keeps the test to its own objects on the shared servers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kubernetes import client

from aegis.backups.phase import Phase
from aegis.backups.runner import run_backup
from aegis.backups.spec import BackupSpec
from aegis.kube.applier import ApplyOutcome
from aegis.kube.connection import ClusterConnection
from aegis.restores.runner import run_restore
from aegis.restores.spec import RestoreSpec
from aegis.storage.local import LocalStorage

if TYPE_CHECKING:
    from .conftest import KubeEnv

pytestmark = pytest.mark.k8s_e2e


def test_whole_cluster_backup_takes_cluster_scoped_resources(
    kube_env: KubeEnv, kube_env_target: KubeEnv, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    labels = {"oco-e2e": f"whole-{run}"}
    ns, role = f"whole-{run}", f"oco-e2e-reader-{run}"
    storage = LocalStorage(tmp_path / "store")
    with kube_env.api_client() as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        core.create_namespace({"metadata": {"name": ns, "labels": labels}})
        core.create_namespaced_config_map(
            ns, {"metadata": {"name": "settings", "labels": labels}, "data": {"a": "1"}}
        )
        rbac.create_cluster_role(
            {
                "metadata": {"name": role, "labels": labels},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
            }
        )
        selector = f"oco-e2e=whole-{run}"
        whole = run_backup(
            ClusterConnection(api),
            BackupSpec(name="whole", cluster="src", label_selector=selector),
            storage,
            "b/whole.tar.gz",
            work_dir=tmp_path,
        )
        scoped = run_backup(
            ClusterConnection(api),
            BackupSpec(name="scoped", cluster="src", label_selector=selector, included_namespaces=[ns]),
            storage,
            "b/scoped.tar.gz",
            work_dir=tmp_path,
        )
    assert whole.phase == scoped.phase == Phase.COMPLETED, (whole.errors, scoped.errors)
    assert whole.counts.get("clusterroles.rbac.authorization.k8s.io") == 1
    assert whole.counts.get("configmaps") == 1  # namespace objects come with every selected namespace
    assert "clusterroles.rbac.authorization.k8s.io" not in scoped.counts  # auto, some namespaces: not needed

    with kube_env_target.api_client() as api:
        restored = run_restore(
            ClusterConnection(api),
            storage,
            "b/whole.tar.gz",
            whole.sha256,
            RestoreSpec(name="r"),
            work_dir=tmp_path,
        )
        assert restored.phase == Phase.COMPLETED, [r for r in restored.results if r.outcome == "failed"]
        outcomes = {(r.resource, r.name): r.outcome for r in restored.results}
        assert outcomes[("clusterroles.rbac.authorization.k8s.io", role)] == ApplyOutcome.CREATED
        live = client.RbacAuthorizationV1Api(api).read_cluster_role(role)
        assert live.rules[0].resources == ["configmaps"] and live.metadata.labels["aegis.oco/restore"] == "r"
        again = run_restore(
            ClusterConnection(api),
            storage,
            "b/whole.tar.gz",
            whole.sha256,
            RestoreSpec(name="r2"),
            work_dir=tmp_path,
        )
        assert again.phase == Phase.COMPLETED
        assert {r.outcome for r in again.results} == {ApplyOutcome.SKIPPED}
