"""How a backup lists namespaced resources: one cluster-wide list per type for a wide namespace
selection, one list per namespace for a few; both give the same archive."""

from __future__ import annotations

import re
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from aegis.backups import runner
from aegis.backups.phase import Phase
from aegis.backups.progress import Progress
from aegis.backups.runner import FEW_NAMESPACES, default_backup_key, lists_cluster_wide, run_backup
from aegis.backups.spec import EXCLUDE_LABEL, BackupSpec
from aegis.kube.connection import ClusterConnection
from aegis.kube.discovery import discover
from aegis.kube.readahead import JobPage, ListJob, ReadAhead
from aegis.kube.transport import KubeTransport
from aegis.storage.local import LocalStorage
from tests.aegis.fake_kube import FakeKubeServer, Fault

TEAMS = [f"team-{i}" for i in range(6)]
PER_NAMESPACE_CM = re.compile(r"/api/v1/namespaces/[^/]+/configmaps")


@pytest.fixture
def wide(source: ApiClient) -> ApiClient:
    """The scenario plus six team namespaces, each with config maps (one of them excluded by label)."""
    core = client.CoreV1Api(source)
    for ns in TEAMS:
        core.create_namespace({"metadata": {"name": ns}})
        for name in ("alpha", "beta"):
            core.create_namespaced_config_map(
                ns, {"metadata": {"name": name, "labels": {"tier": name}}, "data": {"ns": ns}}
            )
        core.create_namespaced_config_map(
            ns, {"metadata": {"name": "private", "labels": {EXCLUDE_LABEL: "true"}}, "data": {"x": "1"}}
        )
    return source


def archive(storage: LocalStorage, key: str) -> dict[str, bytes]:
    """Archive entries (name -> bytes), metadata.json left out (it carries timestamps)."""
    with tarfile.open(storage.root / key, "r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.name != "metadata.json"
        }


def list_paths(kube: FakeKubeServer) -> list[str]:
    return [r.path for r in kube.fake.requests if r.method == "GET"]


def test_strategy_rule() -> None:
    few = [f"ns-{i}" for i in range(FEW_NAMESPACES)]
    assert lists_cluster_wide(BackupSpec(), ["a"])  # "*": always cluster-wide
    assert lists_cluster_wide(BackupSpec(included_namespaces=["*"], excluded_namespaces=["a"]), [])
    assert not lists_cluster_wide(BackupSpec(included_namespaces=few), few)
    many = [*few, "one-more"]
    assert lists_cluster_wide(BackupSpec(included_namespaces=many), many)
    # A wildcard counts by what it matched: two namespaces are listed one by one.
    assert not lists_cluster_wide(BackupSpec(included_namespaces=["team-*"]), ["team-0", "team-1"])
    assert lists_cluster_wide(BackupSpec(included_namespaces=["team-*"]), TEAMS)


def test_wide_named_selection_lists_each_type_once_cluster_wide(
    kube: FakeKubeServer, wide: ApiClient, storage: LocalStorage
) -> None:
    spec = BackupSpec(name="w", included_namespaces=TEAMS, include_cluster_resources="false")
    kube.fake.requests.clear()

    outcome = run_backup(ClusterConnection(wide), spec, storage, default_backup_key("w"))

    assert outcome.phase is Phase.COMPLETED, (outcome.error, outcome.errors)
    paths = list_paths(kube)
    assert paths.count("/api/v1/configmaps") == 1 and "/apis/apps/v1/deployments" in paths
    assert not [p for p in paths if PER_NAMESPACE_CM.fullmatch(p)]
    # The label selector (with the exclusion label) still goes to the server on the cluster-wide list.
    cm_list = next(r for r in kube.fake.requests if r.path == "/api/v1/configmaps")
    assert f"{EXCLUDE_LABEL}!=true" in cm_list.query["labelSelector"]
    entries = archive(storage, default_backup_key("w"))
    assert outcome.counts["configmaps"] == 2 * len(TEAMS)
    assert not [n for n in entries if "/namespaces/shop/" in n or "/namespaces/other/" in n]


def test_few_named_namespaces_are_listed_one_by_one(
    kube: FakeKubeServer, wide: ApiClient, storage: LocalStorage
) -> None:
    spec = BackupSpec(name="f", included_namespaces=["team-0", "team-1"], include_cluster_resources="false")
    kube.fake.requests.clear()

    outcome = run_backup(ClusterConnection(wide), spec, storage, default_backup_key("f"))

    assert outcome.phase is Phase.COMPLETED
    paths = list_paths(kube)
    assert "/api/v1/configmaps" not in paths
    assert {"/api/v1/namespaces/team-0/configmaps", "/api/v1/namespaces/team-1/configmaps"} <= set(paths)
    assert outcome.counts["configmaps"] == 4


@pytest.mark.parametrize(
    ("included", "label_selector"),
    [(TEAMS, None), (["team-*", "shop", "blog"], None), (["*"], "tier=alpha")],
)
def test_cluster_wide_and_per_namespace_give_the_same_archive(
    kube: FakeKubeServer,
    wide: ApiClient,
    storage: LocalStorage,
    monkeypatch: pytest.MonkeyPatch,
    included: list[str],
    label_selector: str | None,
) -> None:
    spec = BackupSpec(
        name="same",
        included_namespaces=included,
        excluded_namespaces=["team-5"],
        label_selector=label_selector,
    )
    kube.fake.requests.clear()
    wide_outcome = run_backup(ClusterConnection(wide), spec, storage, "wide.tar.gz")
    assert "/api/v1/configmaps" in list_paths(kube)

    # Force the per-namespace path for the same spec: "*" too (the rule is a module-level function).
    monkeypatch.setattr(runner, "lists_cluster_wide", lambda _spec, _ns: False)
    kube.fake.requests.clear()
    narrow_outcome = run_backup(ClusterConnection(wide), spec, storage, "narrow.tar.gz")
    assert "/api/v1/configmaps" not in list_paths(kube)

    assert wide_outcome.phase is narrow_outcome.phase is Phase.COMPLETED
    wide_entries, narrow_entries = archive(storage, "wide.tar.gz"), archive(storage, "narrow.tar.gz")
    assert set(wide_entries) == set(narrow_entries)
    assert wide_entries == narrow_entries  # byte for byte: same objects, same order-independent content
    assert wide_outcome.counts == narrow_outcome.counts and wide_outcome.counts["configmaps"] > 0


def test_excluded_namespaces_and_labelled_objects_stay_out_of_a_cluster_wide_backup(
    kube: FakeKubeServer, wide: ApiClient, storage: LocalStorage
) -> None:
    spec = BackupSpec(name="x", excluded_namespaces=["team-2", "oth*"])

    outcome = run_backup(ClusterConnection(wide), spec, storage, default_backup_key("x"))

    assert outcome.phase is Phase.COMPLETED
    entries = archive(storage, default_backup_key("x"))
    assert "/api/v1/configmaps" in list_paths(kube)
    for excluded in ("team-2", "other"):
        assert not [n for n in entries if f"/namespaces/{excluded}/" in n], excluded
        assert f"resources/namespaces/cluster/{excluded}.json" not in entries
    assert "resources/configmaps/namespaces/team-3/alpha.json" in entries
    assert not [n for n in entries if n.endswith("/private.json")]  # the exclusion label


def test_forbidden_cluster_wide_list_falls_back_to_per_namespace(
    kube: FakeKubeServer, wide: ApiClient, storage: LocalStorage
) -> None:
    fault = kube.fake.add_fault(
        Fault("GET", "/api/v1/configmaps", 403, times=None, reason="Forbidden", message="cannot list")
    )
    spec = BackupSpec(name="r", included_namespaces=TEAMS)
    kube.fake.requests.clear()

    outcome = run_backup(ClusterConnection(wide), spec, storage, default_backup_key("r"))

    assert outcome.phase is Phase.COMPLETED and outcome.errors == []
    assert fault.hits == 1
    assert {f"/api/v1/namespaces/{ns}/configmaps" for ns in TEAMS} <= set(list_paths(kube))
    assert outcome.counts["configmaps"] == 2 * len(TEAMS)


def test_failed_cluster_wide_list_is_a_partial_failure(
    kube: FakeKubeServer, wide: ApiClient, storage: LocalStorage, tmp_path: Path
) -> None:
    kube.fake.add_fault(Fault("GET", "/api/v1/secrets", 422, times=None, message="boom"))
    spec = BackupSpec(name="p", included_namespaces=TEAMS)

    outcome = run_backup(ClusterConnection(wide), spec, storage, default_backup_key("p"))

    assert outcome.phase is Phase.PARTIALLY_FAILED
    assert [e.item for e in outcome.errors] == ["secrets in all namespaces"]
    assert outcome.counts["configmaps"] == 2 * len(TEAMS)


# The transport change that came with the listing work: the client's auth is asked once per
# ``auth_ttl`` (its refresh hook re-applies the whole kubeconfig), and again after a 401.


def test_transport_caches_client_auth_and_refreshes_it_after_a_401(
    kube: FakeKubeServer, client_for, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = client_for(kube)
    asked: list[int] = []
    original = api.param_serialize

    def counting(*args, **kwargs):
        asked.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(api, "param_serialize", counting)
    transport = KubeTransport(api, auth_ttl=3600)
    for _ in range(5):
        assert transport.request("GET", "/version").ok
    assert len(asked) == 1

    # The token rotates: the server wants a new one, which the client's configuration now holds.
    api.configuration.refresh_api_key_hook = None
    api.configuration.api_key["BearerToken"] = "Bearer rotated"
    kube.fake.token = "rotated"
    assert transport.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "after-401"}}).ok
    assert len(asked) == 2
    assert kube.fake.get_object("", "namespaces", None, "after-401") is not None

    # The server stops accepting the client's token: one fresh attempt, then the 401 is the answer.
    kube.fake.token = "revoked"
    assert transport.request("GET", "/version").status == 401
    assert len(asked) == 3


def test_cancel_while_reading_ahead_stops_the_background_thread(
    kube: FakeKubeServer, wide: ApiClient, storage: LocalStorage
) -> None:
    cancel = threading.Event()
    spec = BackupSpec(name="c", page_size=1)  # many pages: the cancel lands mid-listing

    def on_progress(progress: Progress) -> None:
        if progress.items_done >= 5:
            cancel.set()

    outcome = run_backup(
        ClusterConnection(wide), spec, storage, default_backup_key("c"), on_progress, cancel=cancel
    )

    assert outcome.phase is Phase.FAILED and outcome.error == "interrupted"
    assert not storage.exists(default_backup_key("c"))
    assert not [t for t in threading.enumerate() if t.name == "aegis-list-ahead"]


def test_read_ahead_keeps_job_order_and_raises_a_bug_in_the_callers_thread(
    kube: FakeKubeServer, wide: ApiClient
) -> None:
    transport = KubeTransport(wide)
    resources = {r.resource: r for r in discover(transport).preferred() if r.group == ""}
    jobs = [ListJob(resources["configmaps"], ns, page_size=1, tag=ns) for ns in TEAMS[:3]]
    with ReadAhead(transport, jobs, depth=1) as events:
        seen = [(e.job.tag, e.page.items[0]["metadata"]["name"]) for e in events if isinstance(e, JobPage)]
    assert seen == [(ns, name) for ns in TEAMS[:3] for name in ("alpha", "beta", "private")]

    def broken() -> Iterator[ListJob]:
        yield jobs[0]
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"), ReadAhead(transport, broken()) as events:
        list(events)


def test_a_long_dense_cluster_wide_list_goes_on_per_namespace_without_duplicates(
    kube: FakeKubeServer, wide: ApiClient, storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    for ns in TEAMS[:2]:
        for i in range(150):
            kube.fake.seed(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"bulk-{i:03d}", "namespace": ns, "labels": {"bulk": "yes"}},
                    "data": {"i": str(i)},
                }
            )
    spec = BackupSpec(name="d", included_namespaces=TEAMS, label_selector="bulk=yes", page_size=120)
    kube.fake.requests.clear()

    outcome = run_backup(ClusterConnection(wide), spec, storage, "dense.tar.gz")

    assert outcome.phase is Phase.COMPLETED, (outcome.error, outcome.errors)
    cm_lists = [r for r in kube.fake.requests if r.method == "GET" and r.path.endswith("/configmaps")]
    # The first pages (20 objects, then 120: all of team-0) show a long, dense list: it goes on per namespace.
    assert cm_lists[0].path == "/api/v1/configmaps" and "continue" not in cm_lists[0].query
    assert [r.path for r in cm_lists].count("/api/v1/configmaps") == 2
    assert {f"/api/v1/namespaces/{ns}/configmaps" for ns in TEAMS} <= {r.path for r in cm_lists}
    with tarfile.open(storage.root / "dense.tar.gz", "r:gz") as tar:
        names = [n for n in tar.getnames() if n.startswith("resources/configmaps/")]
    assert len(names) == len(set(names)) == 300 == outcome.counts["configmaps"]

    monkeypatch.setattr(runner, "lists_cluster_wide", lambda _spec, _ns: False)
    narrow = run_backup(ClusterConnection(wide), spec, storage, "dense-narrow.tar.gz")
    assert archive(storage, "dense.tar.gz") == archive(storage, "dense-narrow.tar.gz")
    assert narrow.counts == outcome.counts
