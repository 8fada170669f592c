"""Backups against the fake API server through the official client: archive layout, selection, faults."""

from __future__ import annotations

import hashlib
import tarfile
import threading
from pathlib import Path

import orjson
from kubernetes.client import ApiClient

from aegis.backups.phase import Phase
from aegis.backups.progress import Progress
from aegis.backups.runner import default_backup_key, list_backup_contents, run_backup
from aegis.backups.spec import BackupSpec
from aegis.kube.connection import ClusterConnection
from aegis.kube.transport import RetryPolicy
from aegis.storage.local import LocalStorage
from tests.aegis.fake_kube import FakeKubeServer, Fault

KEY = default_backup_key("b1")

NAMESPACED = {
    "configmaps": ["settings"],
    "secrets": ["creds"],
    "services": ["web", "web-headless"],
    "serviceaccounts": ["builder"],
    "pods": ["debug", "web-5d9c-abcde"],
    "endpoints": ["web"],
    "events": ["web.17a"],
    "deployments.apps": ["web"],
    "replicasets.apps": ["web-5d9c"],
    "rolebindings.rbac.authorization.k8s.io": ["builder"],
    "widgets.example.com": ["gizmo"],
}


def expected_entries() -> set[str]:
    paths = {"resources/namespaces/cluster/shop.json", "resources/namespaces/cluster/blog.json"}
    for resource, names in NAMESPACED.items():
        for ns in ("shop", "blog"):
            paths.update(f"resources/{resource}/namespaces/{ns}/{name}.json" for name in names)
    paths.add("resources/persistentvolumeclaims/namespaces/shop/data.json")
    paths.add("resources/persistentvolumes/cluster/pv-data.json")
    paths.add("resources/customresourcedefinitions.apiextensions.k8s.io/cluster/widgets.example.com.json")
    return paths


def read_archive(path: Path) -> tuple[list[str], dict[str, bytes]]:
    with tarfile.open(path, "r:gz") as tar:
        names = tar.getnames()
        data = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    return names, data


def test_backup_writes_velero_layout_entry_by_entry(source: ApiClient, storage: LocalStorage) -> None:
    seen: list[Progress] = []
    spec = BackupSpec(name="b1", cluster="src", included_namespaces=["shop", "blog"])

    outcome = run_backup(ClusterConnection(source), spec, storage, KEY, seen.append)

    assert outcome.phase is Phase.COMPLETED, outcome.error
    stored = storage.root / KEY
    names, data = read_archive(stored)
    assert names[0] == "metadata/version" and names[-1] == "metadata.json"
    assert set(names[1:-1]) == expected_entries()
    assert len(names) == len(set(names))
    assert data["metadata/version"] == b"1"

    # Objects are stored as fetched (server fields kept) with apiVersion/kind filled in.
    deployment = orjson.loads(data["resources/deployments.apps/namespaces/shop/web.json"])
    assert deployment["apiVersion"] == "apps/v1" and deployment["kind"] == "Deployment"
    assert deployment["metadata"]["uid"] and deployment["metadata"]["managedFields"]
    assert "status" in deployment
    widget = orjson.loads(data["resources/widgets.example.com/namespaces/blog/gizmo.json"])
    assert widget["spec"] == {"size": 3} and widget["kind"] == "Widget"
    secret = orjson.loads(data["resources/secrets/namespaces/shop/creds.json"])
    assert secret["data"] == {"password": "czNjcjN0"}

    metadata = orjson.loads(data["metadata.json"])
    assert metadata["name"] == "b1" and metadata["cluster"] == "src"
    assert metadata["spec"]["included_namespaces"] == ["shop", "blog"]
    assert metadata["counts"]["configmaps"] == 2 and metadata["counts"]["pods"] == 4
    assert metadata["items_total"] == len(expected_entries()) == outcome.items_done
    assert "example.com/v1" in metadata["api_versions"] and "autoscaling/v2" in metadata["api_versions"]
    assert metadata["resources"]["widgets.example.com"]["kind"] == "Widget"
    assert metadata["errors"] == [] and metadata["started_at"] <= metadata["finished_at"]

    assert outcome.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert outcome.size_bytes == stored.stat().st_size
    assert outcome.counts == metadata["counts"]
    assert seen[-1].items_done == outcome.items_done == outcome.items_total
    assert all(a.items_done <= b.items_done for a, b in zip(seen, seen[1:], strict=False))


def test_backup_pages_lists_and_uses_preferred_versions(
    kube: FakeKubeServer, source: ApiClient, storage: LocalStorage
) -> None:
    outcome = run_backup(ClusterConnection(source), BackupSpec(name="b1", page_size=1), storage, KEY)

    assert outcome.phase is Phase.COMPLETED
    lists = [r for r in kube.fake.requests if r.path == "/api/v1/namespaces" and r.method == "GET"]
    assert len(lists) >= 4 and all(r.query.get("limit") == "1" for r in lists)
    assert any("continue" in r.query for r in lists)
    paths = {r.path for r in kube.fake.requests if r.method == "GET"}
    assert "/apis/autoscaling/v2/horizontalpodautoscalers" in paths
    assert "/apis/autoscaling/v1/horizontalpodautoscalers" not in paths
    assert not any(p.endswith("/status") or p.endswith("/log") for p in paths)  # subresources skipped
    # All namespaces selected: one cluster-wide list per namespaced resource, not one per namespace.
    assert "/api/v1/configmaps" in paths and "/api/v1/namespaces/shop/configmaps" not in paths


def test_contents_listing_reads_the_index(source: ApiClient, storage: LocalStorage) -> None:
    outcome = run_backup(
        ClusterConnection(source), BackupSpec(name="b1", included_namespaces=["shop", "blog"]), storage, KEY
    )

    contents = list_backup_contents(storage, KEY, outcome.sha256)

    listed = {(i.resource, i.group, i.kind, i.namespace, i.name) for i in contents.items}
    assert ("deployments", "apps", "Deployment", "shop", "web") in listed
    assert ("widgets", "example.com", "Widget", "blog", "gizmo") in listed
    assert ("namespaces", "", "Namespace", None, "shop") in listed
    assert ("customresourcedefinitions", "apiextensions.k8s.io", "CustomResourceDefinition", None,
            "widgets.example.com") in listed  # fmt: skip
    assert len(contents.items) == len(expected_entries())
    assert contents.metadata["name"] == "b1"


def test_exclusion_label_and_label_selector(source: ApiClient, storage: LocalStorage) -> None:
    outcome = run_backup(
        ClusterConnection(source),
        BackupSpec(name="b1", included_namespaces=["sh*"], label_selector="app in (web)"),
        storage,
        KEY,
    )

    names, _ = read_archive(storage.root / KEY)
    objects = {n for n in names if n.startswith("resources/")}
    assert outcome.phase is Phase.COMPLETED
    assert "resources/configmaps/namespaces/shop/settings.json" in objects
    assert not any("scratch" in n for n in objects)  # aegis.oco/exclude-from-backup=true
    assert not any("/blog/" in n for n in objects)
    assert "resources/pods/namespaces/shop/debug.json" not in objects  # app=debug
    assert "resources/namespaces/cluster/shop.json" in objects  # namespaces always come along


def test_include_cluster_resources_true_and_false(source: ApiClient, storage: LocalStorage) -> None:
    run_backup(
        ClusterConnection(source),
        BackupSpec(name="t", included_namespaces=["shop"], include_cluster_resources="true"),
        storage,
        "t",
    )
    run_backup(
        ClusterConnection(source),
        BackupSpec(name="f", included_namespaces=["shop"], include_cluster_resources=False),
        storage,
        "f",
    )

    everything, _ = read_archive(storage.root / "t")
    nothing, _ = read_archive(storage.root / "f")
    assert {
        "resources/storageclasses.storage.k8s.io/cluster/fast.json",
        "resources/clusterroles.rbac.authorization.k8s.io/cluster/reader.json",
        "resources/persistentvolumes/cluster/pv-unrelated.json",
        "resources/namespaces/cluster/shop.json",
    } <= set(everything)
    assert "resources/namespaces/cluster/blog.json" not in everything
    cluster_scoped = [n for n in nothing if "/cluster/" in n]
    assert cluster_scoped == ["resources/namespaces/cluster/shop.json"]


def test_partial_failure_is_reported_with_item_and_reason(
    kube: FakeKubeServer, source: ApiClient, storage: LocalStorage
) -> None:
    fault = kube.fake.add_fault(
        Fault(
            "GET", "/api/v1/namespaces/blog/secrets", 500, times=None, message="etcdserver: request timed out"
        )
    )
    retry = RetryPolicy(max_attempts=3, sleep=lambda _s: None)

    outcome = run_backup(
        ClusterConnection(source),
        BackupSpec(name="b1", included_namespaces=["shop", "blog"]),
        storage,
        KEY,
        retry=retry,
    )

    assert outcome.phase is Phase.PARTIALLY_FAILED
    assert fault.hits == 3  # retried, then given up
    assert len(outcome.errors) == 1
    assert outcome.errors[0].item == "secrets in namespace blog"
    assert "etcdserver: request timed out" in outcome.errors[0].reason
    names, data = read_archive(storage.root / KEY)
    assert "resources/secrets/namespaces/shop/creds.json" in names
    assert "resources/secrets/namespaces/blog/creds.json" not in names
    assert orjson.loads(data["metadata.json"])["errors"][0]["item"] == "secrets in namespace blog"


def test_throttling_is_retried_honouring_retry_after(
    kube: FakeKubeServer, source: ApiClient, storage: LocalStorage
) -> None:
    kube.fake.add_fault(Fault("GET", "/api/v1/configmaps", 429, times=2, retry_after=3, message="slow down"))
    slept: list[float] = []

    outcome = run_backup(
        ClusterConnection(source), BackupSpec(name="b1"), storage, KEY, retry=RetryPolicy(sleep=slept.append)
    )

    assert outcome.phase is Phase.COMPLETED and outcome.errors == []
    assert slept == [3.0, 3.0]
    assert outcome.counts["configmaps"] == 3  # settings x2 + unrelated: nothing lost to throttling


def test_unreachable_cluster_fails_and_stores_nothing(
    kube: FakeKubeServer, client_for, storage: LocalStorage
) -> None:
    api = client_for(kube)
    kube.stop()

    outcome = run_backup(
        ClusterConnection(api), BackupSpec(name="b1"), storage, KEY, retry=RetryPolicy(max_attempts=1)
    )

    assert outcome.phase is Phase.FAILED and "cluster not reachable" in (outcome.error or "")
    assert not storage.exists(KEY) and outcome.sha256 == ""


def test_encryption_required_fails_closed(source: ApiClient, storage: LocalStorage) -> None:
    outcome = run_backup(
        ClusterConnection(source), BackupSpec(name="b1"), storage, KEY, require_encryption=True
    )

    assert outcome.phase is Phase.FAILED and "encryption is required" in (outcome.error or "")
    assert not storage.exists(KEY)


def test_cancelled_backup_is_failed_and_leaves_nothing(
    source: ApiClient, storage: LocalStorage, tmp_path: Path
) -> None:
    cancel = threading.Event()
    cancel.set()
    work = tmp_path / "work"
    work.mkdir()

    outcome = run_backup(
        ClusterConnection(source), BackupSpec(name="b1"), storage, KEY, cancel=cancel, work_dir=work
    )

    assert outcome.phase is Phase.FAILED and outcome.error == "interrupted"
    assert not storage.exists(KEY) and list(work.iterdir()) == []


def test_auto_mode_adds_named_cluster_resources_without_duplicates(
    source: ApiClient, storage: LocalStorage
) -> None:
    spec = BackupSpec(
        name="b1",
        included_namespaces=["shop"],
        included_resources=["persistentvolumeclaims", "persistentvolumes", "sc"],
    )

    outcome = run_backup(ClusterConnection(source), spec, storage, KEY)

    names, _ = read_archive(storage.root / KEY)
    assert outcome.phase is Phase.COMPLETED
    assert len(names) == len(set(names))
    assert {
        "resources/persistentvolumeclaims/namespaces/shop/data.json",
        "resources/persistentvolumes/cluster/pv-data.json",
        "resources/persistentvolumes/cluster/pv-unrelated.json",
        "resources/storageclasses.storage.k8s.io/cluster/fast.json",
    } <= set(names)
    assert not any("configmaps" in n for n in names)
