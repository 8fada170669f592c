"""Pure restore planning: tiers, stripping, controller-owned skips, mapping, filters and labels."""

from __future__ import annotations

import copy

import pytest

from aegis.archive.layout import ArchiveEntry, object_path
from aegis.restores.plan import (
    ADMISSION_TIER,
    LAST_TIER,
    TIER_NAMES,
    PlannedItem,
    RestorePlanner,
    SkippedItem,
    SkipReason,
    label_value,
    restore_tier,
    strip_cluster_fields,
)
from aegis.restores.spec import RestoreSpec

SERVER_METADATA = {
    "uid": "u",
    "resourceVersion": "7",
    "creationTimestamp": "2024-01-01T00:00:00Z",
    "managedFields": [{}],
    "selfLink": "/x",
    "generation": 3,
    "ownerReferences": [{"kind": "Thing", "name": "t", "uid": "o", "controller": True}],
}


def entry(resource: str, group: str, namespace: str | None, name: str) -> ArchiveEntry:
    return ArchiveEntry(resource, group, namespace, name, object_path(resource, group, namespace, name))


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, **extra) -> dict:
    metadata = {"name": name, **copy.deepcopy(SERVER_METADATA), **extra.pop("metadata", {})}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "status": {"x": 1}, **extra}


def test_tiers_follow_velero_priorities() -> None:
    assert TIER_NAMES[:3] == (
        "customresourcedefinitions.apiextensions.k8s.io",
        "namespaces",
        "storageclasses.storage.k8s.io",
    )
    order = [
        "persistentvolumes",
        "persistentvolumeclaims",
        "secrets",
        "configmaps",
        "serviceaccounts",
        "limitranges",
    ]
    assert [restore_tier(r, "") for r in order] == list(range(3, 9))
    assert restore_tier("deployments", "apps") == restore_tier("widgets", "example.com") == LAST_TIER
    assert restore_tier("storageclasses", "") == LAST_TIER  # the group matters
    webhooks = restore_tier("validatingwebhookconfigurations", "admissionregistration.k8s.io")
    assert webhooks == ADMISSION_TIER > LAST_TIER and TIER_NAMES[webhooks] == "admission"


def test_strip_generic_metadata_and_status() -> None:
    stripped = strip_cluster_fields("configmaps", "", obj("v1", "ConfigMap", "a", "ns", data={"k": "v"}))

    assert stripped == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "ns"},
        "data": {"k": "v"},
    }


def test_strip_service_ips_but_keep_headless() -> None:
    service = obj(
        "v1", "Service", "s", "ns", spec={"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": []}
    )
    headless = obj("v1", "Service", "h", "ns", spec={"clusterIP": "None", "clusterIPs": ["None"]})

    assert strip_cluster_fields("services", "", service)["spec"] == {"ports": []}
    assert strip_cluster_fields("services", "", headless)["spec"] == {
        "clusterIP": "None",
        "clusterIPs": ["None"],
    }


def test_strip_pod_node_and_token_volume() -> None:
    pod = obj(
        "v1",
        "Pod",
        "p",
        "ns",
        spec={
            "nodeName": "n1",
            "serviceAccountName": "builder",
            "volumes": [{"name": "kube-api-access-abc"}, {"name": "builder-token-xyz"}, {"name": "data"}],
            "containers": [
                {"name": "c", "volumeMounts": [{"name": "kube-api-access-abc"}, {"name": "data"}]}
            ],
        },
    )

    spec = strip_cluster_fields("pods", "", pod)["spec"]

    assert "nodeName" not in spec
    assert spec["volumes"] == [{"name": "data"}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "data"}]


def owned(
    resource: str, group: str, api_version: str, kind: str, owner_kind: str
) -> tuple[ArchiveEntry, dict]:
    owner = {"apiVersion": "apps/v1", "kind": owner_kind, "name": "o", "uid": "1", "controller": True}
    return entry(resource, group, "ns", "x"), obj(
        api_version, kind, "x", "ns", metadata={"ownerReferences": [owner]}
    )


@pytest.mark.parametrize(
    ("resource", "group", "api_version", "kind", "owner_kind", "skipped"),
    [
        ("pods", "", "v1", "Pod", "ReplicaSet", True),
        ("pods", "", "v1", "Pod", "StatefulSet", True),
        ("replicasets", "apps", "apps/v1", "ReplicaSet", "Deployment", True),
        ("configmaps", "", "v1", "ConfigMap", "Deployment", False),  # ownerReferences stripped instead
        ("pods", "", "v1", "Pod", "Workflow", False),
    ],
)
def test_controller_owned_objects_are_skipped(
    resource: str, group: str, api_version: str, kind: str, owner_kind: str, skipped: bool
) -> None:
    decision = RestorePlanner(RestoreSpec()).plan(*owned(resource, group, api_version, kind, owner_kind))

    if skipped:
        assert isinstance(decision, SkippedItem) and decision.reason is SkipReason.CONTROLLER_OWNED
        assert f"{owner_kind}/o" in decision.message
    else:
        assert isinstance(decision, PlannedItem) and "ownerReferences" not in decision.body["metadata"]


@pytest.mark.parametrize(
    ("resource", "group"),
    [("endpoints", ""), ("endpointslices", "discovery.k8s.io"), ("events", ""), ("events", "events.k8s.io")],
)
def test_cluster_owned_resources_are_never_restored(resource: str, group: str) -> None:
    decision = RestorePlanner(RestoreSpec()).plan(
        entry(resource, group, "ns", "x"), obj("v1", "X", "x", "ns")
    )

    assert isinstance(decision, SkippedItem) and decision.reason is SkipReason.NOT_RESTORABLE


def test_namespace_mapping_reaches_objects_namespaces_and_references() -> None:
    planner = RestorePlanner(RestoreSpec(namespace_mapping={"a": "a-copy"}))
    binding = obj(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rb",
        "a",
        subjects=[{"kind": "ServiceAccount", "name": "s", "namespace": "a"}, {"kind": "User", "name": "bob"}],
    )
    pv = obj(
        "v1", "PersistentVolume", "pv", spec={"claimRef": {"namespace": "a", "name": "data", "uid": "u"}}
    )

    planned_binding = planner.plan(entry("rolebindings", "rbac.authorization.k8s.io", "a", "rb"), binding)
    planned_ns = planner.plan(entry("namespaces", "", None, "a"), obj("v1", "Namespace", "a"))
    planned_pv = planner.plan(entry("persistentvolumes", "", None, "pv"), pv)
    untouched = planner.plan(entry("configmaps", "", "b", "c"), obj("v1", "ConfigMap", "c", "b"))

    assert isinstance(planned_binding, PlannedItem) and planned_binding.namespace == "a-copy"
    assert planned_binding.body["metadata"]["namespace"] == "a-copy"
    assert (
        planned_binding.body["subjects"][0]["namespace"] == "a-copy"
        and "namespace" not in planned_binding.body["subjects"][1]
    )
    assert planned_binding.ref.group == "rbac.authorization.k8s.io" and planned_binding.ref.version == "v1"
    assert (
        isinstance(planned_ns, PlannedItem) and planned_ns.name == "a-copy" and planned_ns.namespace is None
    )
    assert planned_ns.body["metadata"]["name"] == "a-copy" and planned_ns.tier == 1
    assert isinstance(planned_pv, PlannedItem) and planned_pv.body["spec"]["claimRef"] == {
        "namespace": "a-copy",
        "name": "data",
    }
    assert isinstance(untouched, PlannedItem) and untouched.namespace == "b"
    assert planned_binding.item == "rolebindings.rbac.authorization.k8s.io/a-copy/rb"


def test_filters_apply_to_source_namespaces_resources_and_labels() -> None:
    planner = RestorePlanner(
        RestoreSpec(
            included_namespaces=["shop*"],
            excluded_namespaces=["shop-old"],
            excluded_resources=["secrets"],
            label_selector="app=web",
        )
    )

    def decide(resource: str, namespace: str | None, labels: dict) -> str:
        name = namespace or "n"
        decision = planner.plan(
            entry(resource, "", namespace, name if resource == "namespaces" else "x"),
            obj("v1", "X", name if resource == "namespaces" else "x", namespace, metadata={"labels": labels}),
        )
        return decision.reason.value if isinstance(decision, SkippedItem) else "planned"

    web = {"app": "web"}
    assert decide("configmaps", "shop", web) == "planned"
    assert decide("configmaps", "shop-old", web) == "excluded"
    assert decide("configmaps", "blog", web) == "excluded"
    assert decide("secrets", "shop", web) == "excluded"
    assert decide("configmaps", "shop", {"app": "api"}) == "excluded"
    assert decide("namespaces", None, web) == "excluded"  # namespace "n" is not included
    assert decide("persistentvolumes", None, web) == "planned"  # cluster-scoped: no namespace filter


def test_filters_take_kinds_and_short_names() -> None:
    planner = RestorePlanner(
        RestoreSpec(included_resources=["cm", "deploy", "Service", "pvc"], excluded_resources=["svc"])
    )

    def decide(resource: str, group: str, kind: str) -> str:
        version = f"{group}/v1" if group else "v1"
        decision = planner.plan(entry(resource, group, "shop", "x"), obj(version, kind, "x", "shop"))
        return decision.reason.value if isinstance(decision, SkippedItem) else "planned"

    assert decide("configmaps", "", "ConfigMap") == "planned"
    assert decide("deployments", "apps", "Deployment") == "planned"
    assert decide("persistentvolumeclaims", "", "PersistentVolumeClaim") == "planned"
    assert decide("services", "", "Service") == "excluded"  # included by kind, excluded by short name
    assert decide("secrets", "", "Secret") == "excluded"
    assert decide("statefulsets", "apps", "StatefulSet") == "excluded"


def test_labels_are_valid_label_values() -> None:
    assert label_value("nightly/2024-01-01T00:00:00Z") == "nightly-2024-01-01T00-00-00Z"
    assert len(label_value("x" * 100)) == 63
    assert label_value("--a--") == "a"


def test_restore_spec_validation() -> None:
    with pytest.raises(ValueError, match="two namespaces onto one"):
        RestoreSpec(namespace_mapping={"a": "x", "b": "x"}).validate()
    with pytest.raises(ValueError, match="parallelism"):
        RestoreSpec(parallelism=0).validate()
    with pytest.raises(ValueError):
        RestoreSpec(existing_resource_policy="merge")
    spec = RestoreSpec.from_dict({"backup_id": 3, "existing_resource_policy": "update", "dry_run": True})
    assert spec.to_dict()["existing_resource_policy"] == "update" and spec.dry_run


def test_strip_service_node_ports() -> None:
    svc = {
        "metadata": {"name": "web"},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.0.0.7",
            "healthCheckNodePort": 32000,
            "ports": [{"port": 80, "nodePort": 31019}],
        },
    }
    stripped = strip_cluster_fields("services", "", svc)
    assert stripped["spec"]["ports"] == [{"port": 80}]
    assert "healthCheckNodePort" not in stripped["spec"] and "clusterIP" not in stripped["spec"]


def test_strip_job_generated_selector_but_keep_a_manual_one() -> None:
    uid = "0b1c6a52-1c52-4b83-9a61-2f6b0f1c9d11"
    job = {
        "metadata": {"name": "migrate"},
        "spec": {
            "selector": {"matchLabels": {"controller-uid": uid}},
            "template": {"metadata": {"labels": {"controller-uid": uid, "job-name": "migrate", "app": "db"}}},
        },
    }
    stripped = strip_cluster_fields("jobs", "batch", job)
    assert "selector" not in stripped["spec"]
    assert stripped["spec"]["template"]["metadata"]["labels"] == {"app": "db"}
    manual = {
        "metadata": {"name": "m"},
        "spec": {"manualSelector": True, "selector": {"matchLabels": {"controller-uid": "x"}}},
    }
    assert strip_cluster_fields("jobs", "batch", manual)["spec"]["selector"] == {
        "matchLabels": {"controller-uid": "x"}
    }
