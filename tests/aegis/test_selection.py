"""Pure selection logic: label selectors, resource patterns, backup selection."""

from __future__ import annotations

import pytest

from aegis.backups.select import BackupSelector
from aegis.backups.spec import BackupSpec, ClusterResources
from aegis.kube.discovery import APIResource
from aegis.kube.selectors import (
    LabelSelector,
    ResourceNames,
    SelectorError,
    namespace_selected,
    resource_matches,
    resource_selected,
)

DEPLOYMENTS = ResourceNames("deployments", "apps", "Deployment", "deployment", ("deploy",))
CORE_EVENTS = ResourceNames("events", "", "Event", "event", ("ev",))
NEW_EVENTS = ResourceNames("events", "events.k8s.io", "Event", "event")
STORAGECLASSES = ResourceNames("storageclasses", "storage.k8s.io", "StorageClass", "storageclass", ("sc",))
WIDGETS = ResourceNames("widgets", "example.com", "Widget", "widget")


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "api"}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("tier in (a, b),app", {"tier": "b", "app": "x"}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("tier notin (a,b)", {}, True),
        ("!legacy", {"legacy": "1"}, False),
        ("example.com/role=db", {"example.com/role": "db"}, True),
        ("", {"anything": "x"}, True),
    ],
)
def test_label_selector_matches_like_the_api_server(selector: str, labels: dict, expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is expected


def test_label_selector_canonical_form_and_errors() -> None:
    selector = LabelSelector.parse("app = web, tier in (b,a), !legacy")
    assert str(selector) == "app=web,tier in (a,b),!legacy"
    assert LabelSelector.parse(str(selector)) == selector
    assert LabelSelector.parse("app=").matches({"app": ""})  # an empty value is valid
    for bad in ("app in (a", "app ~ x", "=x", "a in ()"):
        with pytest.raises(SelectorError):
            LabelSelector.parse(bad)


@pytest.mark.parametrize(
    ("names", "pattern", "expected"),
    [
        (DEPLOYMENTS, "deployments.apps", True),
        (DEPLOYMENTS, "deployments", True),
        (DEPLOYMENTS, "Deployment", True),
        (DEPLOYMENTS, "deploy", True),
        (DEPLOYMENTS, "deployments.batch", False),
        (CORE_EVENTS, "events", True),
        (NEW_EVENTS, "events", True),
        (NEW_EVENTS, "events.events.k8s.io", True),
        (CORE_EVENTS, "events.events.k8s.io", False),
        (STORAGECLASSES, "storageclasses.storage.k8s.io", True),
        (WIDGETS, "*.example.com", True),
        (WIDGETS, "*", True),
        (WIDGETS, "gadgets", False),
    ],
)
def test_resource_patterns(names: ResourceNames, pattern: str, expected: bool) -> None:
    assert resource_matches(names, pattern) is expected


def test_include_and_exclude_lists() -> None:
    assert resource_selected(DEPLOYMENTS, ["*"], ["events"])
    assert not resource_selected(CORE_EVENTS, ["*"], ["events"])
    assert not resource_selected(DEPLOYMENTS, ["configmaps"], [])
    assert resource_selected(DEPLOYMENTS, [], [])
    assert namespace_selected("team-a", ["team-*"], ["team-b"])
    assert not namespace_selected("team-b", ["team-*"], ["team-b"])
    assert not namespace_selected("default", ["team-?"], [])


def api(
    resource: str, group: str, kind: str, namespaced: bool, verbs=("list", "get", "create")
) -> APIResource:
    return APIResource(group, "v1", resource, namespaced, kind=kind, verbs=tuple(verbs), preferred=True)


RESOURCES = [
    api("namespaces", "", "Namespace", False),
    api("configmaps", "", "ConfigMap", True),
    api("secrets", "", "Secret", True),
    api("deployments", "apps", "Deployment", True),
    api("storageclasses", "storage.k8s.io", "StorageClass", False),
    api("persistentvolumes", "", "PersistentVolume", False),
    api("bindings", "", "Binding", True, verbs=("create",)),
    api("widgets", "example.com", "Widget", True),
]


def names_of(resources: list[APIResource]) -> list[str]:
    return [r.qualified_name for r in resources]


def test_backup_selector_resources_by_mode() -> None:
    auto = BackupSelector(BackupSpec(included_namespaces=["app-*"], excluded_resources=["secrets"]))
    whole_cluster = BackupSelector(BackupSpec(excluded_resources=["secrets"]))  # auto, every namespace
    some_excluded = BackupSelector(BackupSpec(excluded_namespaces=["kube-*"]))
    everything = BackupSelector(BackupSpec(include_cluster_resources="true", included_resources=["*"]))
    only = BackupSelector(BackupSpec(included_resources=["deployments.apps", "Widget"]))

    assert names_of(auto.namespaced_resources(RESOURCES)) == [
        "configmaps",
        "deployments.apps",
        "widgets.example.com",
    ]
    assert auto.cluster_resources(RESOURCES) == [] and auto.adds_needed_cluster_objects()
    assert names_of(whole_cluster.cluster_resources(RESOURCES)) == [  # Velero: everything, cluster too
        "storageclasses.storage.k8s.io",
        "persistentvolumes",
    ]
    assert some_excluded.cluster_resources(RESOURCES) == []
    assert names_of(everything.cluster_resources(RESOURCES)) == [
        "storageclasses.storage.k8s.io",
        "persistentvolumes",
    ]
    assert names_of(only.namespaced_resources(RESOURCES)) == ["deployments.apps", "widgets.example.com"]
    named = BackupSelector(
        BackupSpec(
            included_namespaces=["a"], included_resources=["configmaps", "storageclasses.storage.k8s.io"]
        )
    )
    assert names_of(named.cluster_resources(RESOURCES)) == ["storageclasses.storage.k8s.io"]
    wildcard = BackupSelector(BackupSpec(included_namespaces=["a"], included_resources=["storage*"]))
    assert wildcard.cluster_resources(RESOURCES) == []  # auto adds only what is named outright
    named_off = BackupSelector(BackupSpec(included_resources=["sc"], include_cluster_resources="false"))
    assert named_off.cluster_resources(RESOURCES) == []
    assert only.includes_namespace_objects(RESOURCES[0])
    namespaces = APIResource(
        "", "v1", "namespaces", False, kind="Namespace", short_names=("ns",), preferred=True
    )
    assert not BackupSelector(BackupSpec(excluded_resources=["ns"])).includes_namespace_objects(namespaces)


def test_backup_selector_objects_and_namespaces() -> None:
    selector = BackupSelector(
        BackupSpec(
            included_namespaces=["shop", "blog-*"], excluded_namespaces=["blog-old"], label_selector="app=web"
        )
    )

    assert selector.namespace_selected("blog-new") and not selector.namespace_selected("blog-old")
    assert not selector.selects_all_namespaces
    assert selector.object_selected({"metadata": {"labels": {"app": "web"}}})
    assert not selector.object_selected({"metadata": {"labels": {"app": "api"}}})
    excluded = {"metadata": {"labels": {"app": "web", "aegis.oco/exclude-from-backup": "true"}}}
    assert not selector.object_selected(excluded) and selector.excluded_by_label(excluded)
    assert selector.object_selected({"metadata": {}}, use_label_selector=False)
    assert selector.server_label_selector == "app=web,aegis.oco/exclude-from-backup!=true"


def test_backup_spec_parsing_and_validation() -> None:
    spec = BackupSpec.from_dict(
        {"cluster": "prod", "include_cluster_resources": True, "unknown": 1, "ttl_hours": 720}
    )
    assert spec.include_cluster_resources is ClusterResources.TRUE and spec.included_namespaces == ["*"]
    assert spec.to_dict()["include_cluster_resources"] == "true"
    assert BackupSpec(include_cluster_resources=None).include_cluster_resources is ClusterResources.AUTO
    with pytest.raises(ValueError, match="auto"):
        BackupSpec(include_cluster_resources="sometimes")
    with pytest.raises(ValueError, match="label selector"):
        BackupSpec(label_selector="app in (x").validate()
