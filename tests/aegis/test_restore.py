"""Restores through the official client: mapping, order, policies, dry run, integrity, encryption."""

from __future__ import annotations

import threading
from collections.abc import Callable

import orjson
import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from aegis.archive.crypto import generate_key, parse_key
from aegis.archive.reader import ArchiveIntegrityError
from aegis.backups.outcomes import BackupOutcome
from aegis.backups.phase import Phase
from aegis.backups.runner import default_backup_key, list_backup_contents, run_backup
from aegis.backups.spec import BackupSpec
from aegis.kube.applier import ApplyOutcome
from aegis.kube.connection import ClusterConnection
from aegis.restores.plan import restore_tier
from aegis.restores.runner import run_restore
from aegis.restores.spec import RestoreSpec
from aegis.storage.local import LocalStorage
from tests.aegis.fake_kube import FakeKubeServer, Fault

KEY = default_backup_key("b1")


@pytest.fixture
def backup(source: ApiClient, storage: LocalStorage) -> BackupOutcome:
    outcome = run_backup(
        ClusterConnection(source), BackupSpec(name="b1", included_namespaces=["shop", "blog"]), storage, KEY
    )
    assert outcome.phase is Phase.COMPLETED
    return outcome


@pytest.fixture
def target(target_kube: FakeKubeServer, client_for: Callable[[FakeKubeServer], ApiClient]) -> ApiClient:
    return client_for(target_kube)


def writes(server: FakeKubeServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.fake.requests if r.method in ("POST", "PUT", "DELETE")]


def test_restore_into_mapped_namespace_on_another_cluster(
    backup: BackupOutcome, storage: LocalStorage, target: ApiClient, target_kube: FakeKubeServer
) -> None:
    spec = RestoreSpec(name="r1", included_namespaces=["shop"], namespace_mapping={"shop": "shop-copy"})

    outcome = run_restore(ClusterConnection(target), storage, KEY, backup.sha256, spec)

    assert outcome.phase is Phase.COMPLETED, outcome.error
    assert outcome.backup_name == "b1"
    core, apps = client.CoreV1Api(target), client.AppsV1Api(target)
    namespace = core.read_namespace("shop-copy")
    assert namespace.metadata.labels["team"] == "shop"  # the backed-up namespace object, renamed
    settings = core.read_namespaced_config_map("settings", "shop-copy")
    assert settings.data == {"color": "blue", "ns": "shop"}
    assert settings.metadata.labels == {"app": "web", "aegis.oco/backup": "b1", "aegis.oco/restore": "r1"}
    assert apps.read_namespaced_deployment("web", "shop-copy").spec.replicas == 2
    binding = client.RbacAuthorizationV1Api(target).read_namespaced_role_binding("builder", "shop-copy")
    assert binding.subjects[0].namespace == "shop-copy"
    widget = client.CustomObjectsApi(target).get_namespaced_custom_object(
        "example.com", "v1", "shop-copy", "widgets", "gizmo"
    )
    assert widget["spec"] == {"size": 3}

    pv = core.read_persistent_volume("pv-data")
    assert pv.spec.claim_ref.namespace == "shop-copy" and pv.spec.claim_ref.uid is None
    pvc = core.read_namespaced_persistent_volume_claim("data", "shop-copy")
    assert "pv.kubernetes.io/bind-completed" not in (pvc.metadata.annotations or {})
    debug = core.read_namespaced_pod("debug", "shop-copy")
    assert debug.spec.node_name is None and not debug.spec.volumes
    assert core.read_namespaced_service("web-headless", "shop-copy").spec.cluster_ip == "None"

    # Controller-owned and cluster-owned objects are not applied; blog was filtered out.
    fake = target_kube.fake
    assert fake.count("apps", "replicasets") == 0 and fake.count("", "endpoints") == 0
    assert fake.count("", "events") == 0
    assert [p.metadata.name for p in core.list_namespaced_pod("shop-copy").items] == ["debug"]
    assert fake.count("", "namespaces", None) == 3  # default, kube-system, shop-copy
    assert outcome.not_planned == {"controller-owned": 2, "not-restorable": 2, "excluded": 14}
    assert outcome.counts == {"created": 13, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    assert outcome.items_done == outcome.items_total == 13
    assert {(r.resource, r.namespace, r.name) for r in outcome.results} >= {
        ("namespaces", None, "shop-copy"),
        ("deployments.apps", "shop-copy", "web"),
        ("widgets.example.com", "shop-copy", "gizmo"),
    }


def test_restore_into_the_same_cluster_strips_what_the_cluster_owns(
    backup: BackupOutcome, storage: LocalStorage, source: ApiClient
) -> None:
    """Same cluster, mapped namespace: an unstripped clusterIP or resourceVersion would be refused."""
    spec = RestoreSpec(name="r1", included_namespaces=["blog"], namespace_mapping={"blog": "blog-2"})

    outcome = run_restore(ClusterConnection(source), storage, KEY, backup.sha256, spec)

    assert outcome.phase is Phase.COMPLETED, [r for r in outcome.results if r.outcome is ApplyOutcome.FAILED]
    core = client.CoreV1Api(source)
    original = core.read_namespaced_service("web", "blog").spec.cluster_ip
    copy = core.read_namespaced_service("web", "blog-2")
    assert copy.spec.cluster_ip not in (None, "", original)
    # Cluster-scoped objects that exist already are skipped (default policy).
    skipped = {(r.resource, r.name) for r in outcome.results if r.outcome is ApplyOutcome.SKIPPED}
    assert ("customresourcedefinitions.apiextensions.k8s.io", "widgets.example.com") in skipped


def test_restore_applies_tiers_in_order_and_waits_for_crds(
    backup: BackupOutcome,
    storage: LocalStorage,
    tmp_path,
    client_for: Callable[[FakeKubeServer], ApiClient],
) -> None:
    with FakeKubeServer(tmp_path, crd_establish_delay=0.4) as slow:
        outcome = run_restore(
            ClusterConnection(client_for(slow)),
            storage,
            KEY,
            backup.sha256,
            RestoreSpec(name="r1", parallelism=4),
        )

        assert outcome.phase is Phase.COMPLETED, outcome.results
        posts = [r.path for r in slow.fake.requests if r.method == "POST"]
    order = [_tier_of(p) for p in posts]
    assert order == sorted(order), "a tier started before the previous one finished"
    assert posts[0] == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert {
        "/apis/example.com/v1/namespaces/shop/widgets",
        "/apis/example.com/v1/namespaces/blog/widgets",
    } <= set(posts)
    assert outcome.counts["failed"] == 0


def _tier_of(path: str) -> int:
    parts = path.strip("/").split("/")
    resource = parts[-1]
    group = "" if parts[0] == "api" else parts[1]
    return restore_tier(resource, group)


def test_existing_resource_policy_skip_then_update(
    backup: BackupOutcome, storage: LocalStorage, target: ApiClient
) -> None:
    first = run_restore(ClusterConnection(target), storage, KEY, backup.sha256, RestoreSpec(name="r1"))
    assert first.phase is Phase.COMPLETED
    core = client.CoreV1Api(target)
    core.replace_namespaced_config_map(
        "settings", "shop", {"metadata": {"name": "settings", "namespace": "shop"}, "data": {"color": "red"}}
    )

    skipped = run_restore(ClusterConnection(target), storage, KEY, backup.sha256, RestoreSpec(name="r2"))

    assert skipped.counts["created"] == 0 and skipped.counts["skipped"] == first.counts["created"]
    assert core.read_namespaced_config_map("settings", "shop").data == {"color": "red"}
    assert all(r.message == "already exists" for r in skipped.results)

    updated = run_restore(
        ClusterConnection(target),
        storage,
        KEY,
        backup.sha256,
        RestoreSpec(name="r3", existing_resource_policy="update"),
    )

    assert updated.phase is Phase.COMPLETED, [r for r in updated.results if r.outcome is ApplyOutcome.FAILED]
    # Only the object that changed is replaced; the others already equal their backed-up version.
    changed = [r for r in updated.results if r.outcome is ApplyOutcome.UPDATED]
    assert [(r.resource, r.namespace, r.name) for r in changed] == [("configmaps", "shop", "settings")]
    assert changed[0].message == "differed at data.color"
    assert updated.counts["unchanged"] == first.counts["created"] - 1
    live = core.read_namespaced_config_map("settings", "shop")
    assert live.data == {"color": "blue", "ns": "shop"}
    assert live.metadata.labels["aegis.oco/restore"] == "r3"
    # An unchanged object is not written, so it keeps the label of the restore that wrote it.
    assert core.read_namespaced_service("web", "shop").metadata.labels["aegis.oco/restore"] == "r1"


def test_dry_run_reports_and_changes_nothing(
    backup: BackupOutcome, storage: LocalStorage, target: ApiClient, target_kube: FakeKubeServer
) -> None:
    before = len(target_kube.fake.objects.get(("", "configmaps"), {}))

    outcome = run_restore(
        ClusterConnection(target), storage, KEY, backup.sha256, RestoreSpec(name="r1", dry_run=True)
    )

    assert outcome.phase is Phase.COMPLETED and outcome.dry_run
    assert outcome.counts["created"] == outcome.items_total > 0
    assert all(r.message.startswith("dry run") for r in outcome.results)
    assert len(target_kube.fake.objects.get(("", "configmaps"), {})) == before
    assert all(
        r.query.get("dryRun") == "All" for r in target_kube.fake.requests if r.method in ("POST", "PUT")
    )


def test_partial_restore_failure_carries_the_api_server_message(
    backup: BackupOutcome, storage: LocalStorage, target: ApiClient, target_kube: FakeKubeServer
) -> None:
    target_kube.fake.add_fault(
        Fault(
            "POST",
            "/api/v1/namespaces/blog/configmaps",
            500,
            times=None,
            name="settings",
            message="quota exceeded",
        )
    )

    outcome = run_restore(ClusterConnection(target), storage, KEY, backup.sha256, RestoreSpec(name="r1"))

    assert outcome.phase is Phase.PARTIALLY_FAILED
    failed = [r for r in outcome.results if r.outcome is ApplyOutcome.FAILED]
    assert [(f.resource, f.namespace, f.name) for f in failed] == [("configmaps", "blog", "settings")]
    assert "quota exceeded" in failed[0].message
    assert outcome.counts["failed"] == 1 and outcome.counts["created"] == outcome.items_total - 1


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_archive_is_refused_before_anything_is_applied(
    damage: str, backup: BackupOutcome, storage: LocalStorage, target: ApiClient, target_kube: FakeKubeServer
) -> None:
    path = storage.root / KEY
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) - 100]
    path.write_bytes(bytes(data))

    outcome = run_restore(ClusterConnection(target), storage, KEY, backup.sha256, RestoreSpec(name="r1"))

    assert outcome.phase is Phase.FAILED
    assert "checksum mismatch" in (outcome.error or "") and "refusing" in (outcome.error or "")
    assert writes(target_kube) == [] and outcome.results == []
    with pytest.raises(ArchiveIntegrityError):
        list_backup_contents(storage, KEY, backup.sha256)


def test_encrypted_backup_round_trip_and_wrong_key(
    source: ApiClient, storage: LocalStorage, target: ApiClient, target_kube: FakeKubeServer
) -> None:
    key = parse_key(generate_key())
    backup = run_backup(
        ClusterConnection(source),
        BackupSpec(name="b1", included_namespaces=["shop"]),
        storage,
        KEY,
        encryption_key=key,
    )
    assert backup.phase is Phase.COMPLETED and backup.encrypted
    stored = (storage.root / KEY).read_bytes()
    assert stored.startswith(b"AEGISENC") and b"settings" not in stored

    wrong = run_restore(
        ClusterConnection(target),
        storage,
        KEY,
        backup.sha256,
        RestoreSpec(name="r0"),
        encryption_key=parse_key(generate_key()),
    )
    missing = run_restore(ClusterConnection(target), storage, KEY, backup.sha256, RestoreSpec(name="r0"))

    assert wrong.phase is Phase.FAILED and "wrong encryption key" in (wrong.error or "")
    assert missing.phase is Phase.FAILED and "no encryption key" in (missing.error or "")
    assert writes(target_kube) == []

    restored = run_restore(
        ClusterConnection(target), storage, KEY, backup.sha256, RestoreSpec(name="r1"), encryption_key=key
    )

    assert restored.phase is Phase.COMPLETED
    assert client.CoreV1Api(target).read_namespaced_secret("creds", "shop").data == {"password": "czNjcjN0"}
    contents = list_backup_contents(storage, KEY, backup.sha256, encryption_key=key)
    assert ("secrets", "shop", "creds") in {(i.resource, i.namespace, i.name) for i in contents.items}


@pytest.mark.parametrize("dry_run", [False, True])
def test_namespaces_missing_from_the_selection_are_created_empty(
    dry_run: bool,
    backup: BackupOutcome,
    storage: LocalStorage,
    target: ApiClient,
    target_kube: FakeKubeServer,
) -> None:
    progress: list = []
    spec = RestoreSpec(
        name="r1", included_resources=["configmaps"], namespace_mapping={"blog": "blog-copy"}, dry_run=dry_run
    )

    outcome = run_restore(ClusterConnection(target), storage, KEY, backup.sha256, spec, progress.append)

    assert outcome.phase is Phase.COMPLETED
    namespaces = {r.name: r.message for r in outcome.results if r.resource == "namespaces"}
    assert set(namespaces) == {"shop", "blog-copy"}
    if dry_run:
        assert all(m == "dry run: would create (namespace not in backup)" for m in namespaces.values())
        assert target_kube.fake.get_object("", "namespaces", None, "blog-copy") is None
    else:
        assert all(m == "namespace not in backup; created empty" for m in namespaces.values())
        created = target_kube.fake.get_object("", "namespaces", None, "blog-copy")
        assert created is not None and created["metadata"]["labels"]["aegis.oco/restore"] == "r1"
        assert target_kube.fake.get_object("", "configmaps", "blog-copy", "settings") is not None
    assert outcome.counts["created"] == 4 and progress[-1].items_done == progress[-1].items_total == 4
    as_json = orjson.loads(orjson.dumps(outcome.to_dict()))
    assert as_json["phase"] == "Completed" and as_json["results"][0]["outcome"] == "created"


def test_cancelled_restore_applies_nothing(
    backup: BackupOutcome, storage: LocalStorage, target: ApiClient, target_kube: FakeKubeServer
) -> None:
    cancel = threading.Event()
    cancel.set()

    outcome = run_restore(
        ClusterConnection(target), storage, KEY, backup.sha256, RestoreSpec(name="r1"), cancel=cancel
    )

    assert outcome.phase is Phase.FAILED and outcome.error == "interrupted"
    assert writes(target_kube) == [] and outcome.items_done == 0
