"""Cluster registry, discovery, paged listing, retries and the applier against the fake API server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from aegis.kube.applier import Applier, ApplyOutcome, CRDNotEstablishedError
from aegis.kube.clusters import ClusterConfigError, ClusterRegistry
from aegis.kube.discovery import discover
from aegis.kube.lister import list_objects, list_pages
from aegis.kube.transport import KubeAPIError, KubeTransport, ResourceRef, RetryPolicy
from tests.aegis.fake_kube import FakeKubeServer, Fault
from tests.aegis.scenario import WIDGET_CRD

CONFIGMAPS = ResourceRef("", "v1", "configmaps", namespaced=True)


def write_clusters(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clusters.yaml"
    path.write_text(text)
    return path


def test_registry_loads_names_and_checks_reachability(
    kube: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_clusters(
        tmp_path,
        f"clusters:\n  prod: {{kubeconfig: {kube.kubeconfig}, context: fake}}\n"
        "  here: {in_cluster: true}\n"
        "  gone: {kubeconfig: /nonexistent/kubeconfig}\n",
    )
    monkeypatch.setenv("OCO_AEGIS_CLUSTERS", str(path))

    registry = ClusterRegistry.from_env()

    assert registry.names() == ["gone", "here", "prod"]
    assert registry.check("prod").reachable and registry.check("prod").version == "v1.30.0-fake"
    assert registry.get("prod").describe() == {
        "name": "prod",
        "kubeconfig": str(kube.kubeconfig),
        "context": "fake",
    }
    here = registry.check("here")
    assert not here.reachable and "in-cluster credentials not available" in (here.error or "")
    assert "cannot read kubeconfig /nonexistent/kubeconfig" in (registry.check("gone").error or "")
    with pytest.raises(ClusterConfigError, match="unknown cluster 'nope'"):
        registry.get("nope")


def test_credentials_never_appear_in_errors_or_reprs(kube: FakeKubeServer, tmp_path: Path) -> None:
    bad_context = ClusterRegistry.from_mapping(
        {"clusters": {"p": {"kubeconfig": str(kube.kubeconfig), "context": "x"}}}
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        kube.kubeconfig.read_text().replace("current-context: fake", "current-context: missing")
    )
    broken_registry = ClusterRegistry.from_mapping({"clusters": {"b": {"kubeconfig": str(broken)}}})
    wrong_token = tmp_path / "wrong.yaml"
    wrong_token.write_text(kube.kubeconfig.read_text().replace(kube.token, "fake-token-wrong"))
    unauthorised = ClusterRegistry.from_mapping({"clusters": {"w": {"kubeconfig": str(wrong_token)}}})

    texts = [
        bad_context.check("p").error or "",
        broken_registry.check("b").error or "",
        unauthorised.check("w").error or "",
        repr(bad_context.get("p")),
    ]

    assert "context 'x' not in kubeconfig" in texts[0] and "has: fake" in texts[0]
    assert "cannot load kubeconfig" in texts[1]
    assert texts[2].startswith("401")
    assert not any(kube.token in t or "fake-token-wrong" in t for t in texts)


def test_registry_rejects_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ClusterConfigError, match="not valid YAML"):
        ClusterRegistry.from_file(write_clusters(tmp_path, "clusters: [unclosed"))
    with pytest.raises(ClusterConfigError, match="'kubeconfig'"):
        ClusterRegistry.from_file(write_clusters(tmp_path, "clusters:\n  a: {context: x}\n"))
    assert ClusterRegistry.from_env({}).names() == []


def test_discovery_finds_preferred_versions_and_crds(
    kube: FakeKubeServer, client_for: Callable[[FakeKubeServer], ApiClient]
) -> None:
    api = client_for(kube)
    before = discover(api)
    client.ApiextensionsV1Api(api).create_custom_resource_definition(WIDGET_CRD)

    after = discover(api)

    hpa = [r for r in before.resources if r.resource == "horizontalpodautoscalers"]
    assert {(r.version, r.preferred) for r in hpa} == {("v2", True), ("v1", False)}
    assert before.preferred_versions["autoscaling"] == "v2"
    assert not any("/" in r.resource for r in before.resources)  # pods/log, deployments/scale skipped
    pods = before.find("pods")
    assert (
        pods is not None and pods.namespaced and pods.supports("list", "create") and "po" in pods.short_names
    )
    namespaces = before.find("namespaces")
    assert namespaces is not None and not namespaces.namespaced
    assert before.find("widgets", "example.com") is None
    widgets = after.find("widgets", "example.com")
    assert widgets is not None and widgets.kind == "Widget" and widgets.namespaced and widgets.preferred
    assert "example.com/v1" in after.served_versions


def test_lister_pages_with_limit_continue_and_selectors(
    kube: FakeKubeServer, client_for: Callable[[FakeKubeServer], ApiClient]
) -> None:
    api = client_for(kube)
    core = client.CoreV1Api(api)
    for i in range(7):
        labels = {"tier": "a" if i % 2 else "b", **({"legacy": "yes"} if i == 0 else {})}
        core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{i}", "labels": labels}})
    resource = discover(api).find("configmaps")
    assert resource is not None

    pages = list(list_pages(api, resource, namespace="default", page_size=3))
    set_based = list(list_objects(api, resource, label_selector="tier in (b),!legacy", page_size=2))
    inequality = list(list_objects(api, resource, label_selector="tier!=a"))

    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert pages[0].remaining_item_count == 4 and pages[-1].continue_token is None
    assert [o["metadata"]["name"] for p in pages for o in p.items] == [f"cm-{i}" for i in range(7)]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for p in pages for o in p.items)
    assert [o["metadata"]["name"] for o in set_based] == ["cm-2", "cm-4", "cm-6"]
    assert [o["metadata"]["name"] for o in inequality] == ["cm-0", "cm-2", "cm-4", "cm-6"]


def test_transport_retries_5xx_for_reads_but_not_creates(
    kube: FakeKubeServer, client_for: Callable[[FakeKubeServer], ApiClient]
) -> None:
    slept: list[float] = []
    transport = KubeTransport(
        client_for(kube), RetryPolicy(max_attempts=4, base_delay=0.01, sleep=slept.append)
    )
    read_fault = kube.fake.add_fault(Fault("GET", "/api/v1/namespaces/default/configmaps", 503, times=2))
    create_fault = kube.fake.add_fault(Fault("POST", "/api/v1/namespaces/default/configmaps", 500, times=1))

    listed = transport.get_json(CONFIGMAPS.path("default"))
    created = transport.request("POST", CONFIGMAPS.path("default"), body={"metadata": {"name": "x"}})

    assert listed["kind"] == "ConfigMapList" and read_fault.hits == 2 and len(slept) == 2
    assert created.status == 500 and create_fault.hits == 1  # a create is not blindly re-sent
    with pytest.raises(KubeAPIError) as info:
        transport.get_json(CONFIGMAPS.path("default", "missing"))
    assert info.value.status == 404 and info.value.reason == "NotFound"
    assert str(info.value) == '404 NotFound: configmaps "missing" not found'


def test_lister_resumes_after_an_expired_continue_token(
    kube: FakeKubeServer, client_for: Callable[[FakeKubeServer], ApiClient]
) -> None:
    api = client_for(kube)
    for i in range(5):
        kube.fake.seed(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "default"}}
        )
    resource = discover(api).find("configmaps")
    assert resource is not None
    offered = next(iter(list_pages(api, resource, namespace="default", page_size=2))).continue_token
    path = "/api/v1/namespaces/default/configmaps"
    kube.fake.add_fault(
        Fault("GET", path, 410, reason="Expired", query_key="continue", status_metadata={"continue": offered})
    )

    names = [o["metadata"]["name"] for o in list_objects(api, resource, namespace="default", page_size=2)]

    assert names == ["c0", "c1", "c2", "c3", "c4"]
    continues = [
        r.query.get("continue") for r in kube.fake.requests if r.path == path and "continue" in r.query
    ]
    assert continues[-3:-1] == [offered, offered]  # the expired token, then the one the 410 offered

    kube.fake.add_fault(Fault("GET", path, 410, reason="Expired", query_key="continue"))
    with pytest.raises(KubeAPIError) as info:  # no token offered: surface the error instead of looping
        list(list_pages(api, resource, namespace="default", page_size=2))
    assert info.value.status == 410


def test_applier_create_skip_update_and_failures(
    kube: FakeKubeServer, client_for: Callable[[FakeKubeServer], ApiClient]
) -> None:
    api = client_for(kube)
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "default"},
        "data": {"v": "1"},
    }
    skip, update = Applier(api), Applier(api, policy="update")

    assert skip.apply(CONFIGMAPS, dict(body)).outcome is ApplyOutcome.CREATED
    assert skip.apply(CONFIGMAPS, dict(body)).outcome is ApplyOutcome.SKIPPED
    changed = {**body, "data": {"v": "2"}}
    assert update.apply(CONFIGMAPS, changed).outcome is ApplyOutcome.UPDATED
    assert kube.fake.get_object("", "configmaps", "default", "a")["data"] == {"v": "2"}  # type: ignore[index]

    # A concurrent writer wins the first PUT: the applier re-reads and retries.
    kube.fake.add_fault(
        Fault("PUT", "/api/v1/namespaces/default/configmaps/a", 409, reason="Conflict", message="modified")
    )
    assert update.apply(CONFIGMAPS, {**body, "data": {"v": "3"}}).outcome is ApplyOutcome.UPDATED

    missing_ns = {**body, "metadata": {"name": "b", "namespace": "nowhere"}}
    result = skip.apply(CONFIGMAPS, missing_ns)
    assert (
        result.outcome is ApplyOutcome.FAILED
        and result.message == '404 NotFound: namespaces "nowhere" not found'
    )
    nameless = skip.apply(CONFIGMAPS, {"metadata": {"namespace": "default"}})
    assert nameless.outcome is ApplyOutcome.FAILED and "metadata.name" in nameless.message


def test_applier_dry_run_and_crd_establishment(
    tmp_path: Path, client_for: Callable[[FakeKubeServer], ApiClient]
) -> None:
    with FakeKubeServer(tmp_path, crd_establish_delay=0.3) as kube:
        api = client_for(kube)
        crds = ResourceRef("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
        dry = Applier(api, dry_run=True)

        assert dry.apply(crds, dict(WIDGET_CRD)).outcome is ApplyOutcome.CREATED
        assert kube.fake.count("apiextensions.k8s.io", "customresourcedefinitions") == 0
        applier = Applier(api)
        assert applier.apply(crds, dict(WIDGET_CRD)).outcome is ApplyOutcome.CREATED
        with pytest.raises(CRDNotEstablishedError):
            applier.wait_crd_established("widgets.example.com", timeout=0.05, poll=0.01)
        applier.wait_crd_established("widgets.example.com", timeout=5, poll=0.05)
        widgets = ResourceRef("example.com", "v1", "widgets", namespaced=True)
        widget = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default"},
        }
        assert applier.apply(widgets, widget).outcome is ApplyOutcome.CREATED
        assert dry.apply(widgets, widget).message == "dry run: already exists, would skip"


def test_fake_server_delete_and_crd_removal_through_the_official_client(
    kube: FakeKubeServer, client_for: Callable[[FakeKubeServer], ApiClient]
) -> None:
    api = client_for(kube)
    core, ext = client.CoreV1Api(api), client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(WIDGET_CRD)
    core.create_namespace({"metadata": {"name": "gone"}})
    core.create_namespaced_config_map("gone", {"metadata": {"name": "c"}})
    created = core.read_namespaced_config_map("c", "gone")
    assert (
        created.metadata.uid
        and created.metadata.creation_timestamp
        and int(created.metadata.resource_version) > 0
    )

    core.delete_namespaced_config_map("c", "gone")
    with pytest.raises(client.ApiException) as info:
        core.read_namespaced_config_map("c", "gone")
    assert info.value.status == 404
    core.delete_namespace("gone")
    ext.delete_custom_resource_definition("widgets.example.com")

    assert discover(api).find("widgets", "example.com") is None
    assert kube.fake.count("", "configmaps", "gone") == 0


def test_page_size_follows_object_size() -> None:
    from aegis.kube.lister import PAGE_BYTES, next_page_size

    assert next_page_size(500, 500 * 1024, 500) == 500  # 1 KiB objects: full pages
    assert next_page_size(500, 50 * 930_000, 50) == PAGE_BYTES // 930_000  # ~1 MB Secrets: a few per page
    assert next_page_size(500, 50 * 50_000_000, 50) == 2  # never fewer than two
    assert next_page_size(1, 10_000_000, 1) == 1  # never more than asked for
