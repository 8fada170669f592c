"""existing_resource_policy "update" leaves equal objects alone: what counts as equal (aegis.kube.sameness),
and the write requests a fake API server receives (none when nothing changed, one per changed object)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from aegis.backups.phase import Phase
from aegis.backups.runner import default_backup_key, run_backup
from aegis.backups.spec import BackupSpec
from aegis.kube.applier import ApplyOutcome
from aegis.kube.connection import ClusterConnection
from aegis.kube.sameness import first_difference
from aegis.restores.runner import run_restore
from aegis.restores.spec import RestoreSpec
from aegis.storage.local import LocalStorage
from tests.aegis.fake_kube import FakeKube, FakeKubeServer

RESTORE_LABELS = ("aegis.oco/backup", "aegis.oco/restore")

DESIRED_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "labels": {"app": "web", "aegis.oco/restore": "r2"},
        "annotations": {"team": "shop"},
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "resources": {}}]},
        },
    },
}


def _as_served(desired: dict[str, Any]) -> dict[str, Any]:
    """What a kube-apiserver (plus the deployment controller) gives back for it: defaults, server
    metadata, status, a controller annotation, the previous restore's label."""
    live = copy.deepcopy(desired)
    live["metadata"].update(
        resourceVersion="4711",
        uid="0b0e",
        creationTimestamp="2026-12-01T00:00:00Z",
        generation=1,
        managedFields=[{"manager": "aegis", "operation": "Update"}],
    )
    live["metadata"]["labels"]["aegis.oco/restore"] = "r1"
    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "1"
    spec = live["spec"]
    spec.update(
        progressDeadlineSeconds=600,
        revisionHistoryLimit=10,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )
    del spec["template"]["metadata"]["creationTimestamp"]
    pod = spec["template"]["spec"]
    pod.update(dnsPolicy="ClusterFirst", restartPolicy="Always", schedulerName="default-scheduler")
    pod["securityContext"] = {}
    pod["containers"][0].update(
        imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log", ports=None
    )
    live["status"] = {"observedGeneration": 1, "replicas": 2}
    return live


def test_server_defaults_metadata_status_and_restore_labels_are_not_differences() -> None:
    assert first_difference(DESIRED_DEPLOYMENT, _as_served(DESIRED_DEPLOYMENT), RESTORE_LABELS) is None


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda o: o["spec"].update(replicas=3), "spec.replicas"),
        (
            lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="x"),
            "spec.template.spec.containers[0].image",
        ),
        (
            lambda o: o["spec"]["template"]["spec"]["containers"].append({"name": "side"}),
            "spec.template.spec.containers",
        ),
        (lambda o: o["metadata"]["labels"].update(extra="added live"), "metadata.labels.extra"),
        (lambda o: o["metadata"]["labels"].pop("app"), "metadata.labels.app"),
        (lambda o: o["metadata"]["annotations"].update(team="blog"), "metadata.annotations.team"),
        (lambda o: o["spec"].pop("selector"), "spec.selector"),
    ],
)
def test_a_real_difference_is_named(change: Callable[[dict[str, Any]], Any], where: str) -> None:
    live = _as_served(DESIRED_DEPLOYMENT)
    change(live)
    assert first_difference(DESIRED_DEPLOYMENT, live, RESTORE_LABELS) == where


def test_data_maps_must_be_equal_key_for_key() -> None:
    desired = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    assert first_difference(desired, {**desired, "data": {"a": "1"}}) is None
    assert first_difference(desired, {**desired, "data": {"a": "1", "b": "added live"}}) == "data.b"
    assert first_difference(desired, {**desired, "data": {}}) == "data.a"
    # A key the backed-up object did not have at all is a difference too (a replace removes it).
    assert (
        first_difference(
            {"metadata": {"name": "c"}}, {"metadata": {"name": "c"}, "binaryData": {"x": "AA=="}}
        )
        == "binaryData"
    )
    # Secret: the server defaults "type" (ignored when the backup lacks it), data stays exact.
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"p": "czNj"}}
    assert first_difference(secret, {**secret, "type": "Opaque"}) is None


def test_empty_values_nulls_and_types() -> None:
    assert first_difference({"spec": {"a": None, "b": {}, "c": []}}, {"spec": {}}) is None
    assert first_difference({"spec": {"flag": True}}, {"spec": {"flag": 1}}) == "spec.flag"
    assert first_difference({"spec": {"n": 1}}, {"spec": {"n": 1.0}}) is None
    assert first_difference({"spec": {"x": {"y": 1}}}, {"spec": {"x": "scalar"}}) == "spec.x"


def test_namespace_name_label_set_by_the_server_is_ignored() -> None:
    """Under a namespace mapping the backed-up label names the old namespace; the server rewrites it."""
    desired = {
        "kind": "Namespace",
        "metadata": {"name": "shop-copy", "labels": {"kubernetes.io/metadata.name": "shop"}},
    }
    live = {
        "kind": "Namespace",
        "metadata": {"name": "shop-copy", "labels": {"kubernetes.io/metadata.name": "shop-copy"}},
        "spec": {"finalizers": ["kubernetes"]},
    }
    assert first_difference(desired, live) is None


# -- through the restore engine, counting the fake API server's write requests ----------------------


COUNT = 60
KEY = default_backup_key("many")


@pytest.fixture
def many(kube: FakeKubeServer, source: ApiClient, storage: LocalStorage) -> str:
    """The scenario plus COUNT config maps in namespace "bulk", backed up; returns the archive's sha256."""
    kube.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}})
    for i in range(COUNT):
        kube.fake.seed(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i:03d}", "namespace": "bulk", "labels": {"i": str(i)}},
                "data": {"index": str(i)},
            }
        )
    spec = BackupSpec(name="many", included_namespaces=["shop", "bulk"])
    outcome = run_backup(ClusterConnection(source), spec, storage, KEY)
    assert outcome.phase is Phase.COMPLETED
    return outcome.sha256


def _restore(target: ApiClient, storage: LocalStorage, sha256: str, name: str, **spec: Any):  # type: ignore[no-untyped-def]
    outcome = run_restore(ClusterConnection(target), storage, KEY, sha256, RestoreSpec(name=name, **spec))
    assert outcome.phase is Phase.COMPLETED, [r for r in outcome.results if r.outcome is ApplyOutcome.FAILED]
    return outcome


def edit(
    fake: FakeKube,
    replace: Callable[..., Any],
    plural: str,
    name: str,
    change: Callable[[dict[str, Any]], Any],
) -> None:
    """Change a live object through the official client (read from the fake, changed, replaced)."""
    group = "apps" if plural == "deployments" else ""
    namespace = "shop" if plural == "deployments" else "bulk"
    live = copy.deepcopy(fake.get_object(group, plural, namespace, name))
    assert live is not None
    change(live)
    replace(name, namespace, live)


def test_update_with_nothing_changed_writes_nothing_and_with_n_changed_writes_n(
    many: str,
    storage: LocalStorage,
    target_kube: FakeKubeServer,
    client_for: Callable[[FakeKubeServer], ApiClient],
) -> None:
    target = client_for(target_kube)
    fake = target_kube.fake
    first = _restore(target, storage, many, "r1")
    total = first.counts["created"]
    assert total > COUNT

    mark = fake.request_count()
    again = _restore(target, storage, many, "r2", existing_resource_policy="update")
    assert fake.write_counts(since=mark) == {}
    assert again.counts["unchanged"] == total and again.counts["updated"] == again.counts["created"] == 0

    # Change some objects in ways a replace undoes, delete one; everything else stays as restored.
    core, apps = client.CoreV1Api(target), client.AppsV1Api(target)
    changed = {f"cm-{i:03d}" for i in (3, 17, 42)}
    edit(
        fake,
        core.replace_namespaced_config_map,
        "configmaps",
        "cm-003",
        lambda o: o["data"].update(index="edited"),
    )
    edit(
        fake,
        core.replace_namespaced_config_map,
        "configmaps",
        "cm-017",
        lambda o: o["data"].update(added="live"),
    )
    edit(
        fake,
        core.replace_namespaced_config_map,
        "configmaps",
        "cm-042",
        lambda o: o["metadata"]["labels"].pop("i"),
    )
    edit(
        fake, apps.replace_namespaced_deployment, "deployments", "web", lambda o: o["spec"].update(replicas=5)
    )
    core.delete_namespaced_config_map("cm-059", "bulk")
    mark = fake.request_count()

    third = _restore(target, storage, many, "r3", existing_resource_policy="update")

    assert fake.write_counts(since=mark) == {"PUT": len(changed) + 1, "POST": 1}
    updated = {(r.namespace, r.name): r.message for r in third.results if r.outcome is ApplyOutcome.UPDATED}
    assert updated == {
        ("bulk", "cm-003"): "differed at data.index",
        ("bulk", "cm-017"): "differed at data.added",
        ("bulk", "cm-042"): "differed at metadata.labels.i",
        ("shop", "web"): "differed at spec.replicas",
    }
    assert third.counts["created"] == 1 and third.counts["unchanged"] == total - len(updated) - 1
    assert core.read_namespaced_config_map("cm-017", "bulk").data == {"index": "17"}
    assert core.read_namespaced_config_map("cm-042", "bulk").metadata.labels["i"] == "42"
    assert apps.read_namespaced_deployment("web", "shop").spec.replicas == 2
    assert core.read_namespaced_config_map("cm-059", "bulk").data == {"index": "59"}

    # A dry run compares too: only the changed object is sent, as a dryRun=All PUT; nothing is written.
    edit(
        fake,
        core.replace_namespaced_config_map,
        "configmaps",
        "cm-003",
        lambda o: o["data"].update(index="again"),
    )
    mark = fake.request_count()
    dry = _restore(target, storage, many, "r4", existing_resource_policy="update", dry_run=True)
    assert fake.write_counts(since=mark, include_dry_run=True) == {"PUT": 1}
    assert fake.write_counts(since=mark) == {}
    assert dry.counts["updated"] == 1 and dry.counts["unchanged"] == total - 1
    assert core.read_namespaced_config_map("cm-003", "bulk").data == {"index": "again"}
