"""Aegis backup/restore benchmark: N config maps (~1 KiB each) on a real kube-apiserver (two, started with
scripts/kube-testenv.sh, when the binary cache exists) or else the in-process fake API server.

Measured in the same run, each step in a fresh child process (so peak RSS is the step's own):
  - the floor: listing the same objects with the official client (raw JSON pages, and typed models);
  - a backup of everything with the engine (time, peak RSS), and one of 2,000 objects (RSS flatness);
  - a restore into the second server with the engine's parallel pool, and one-at-a-time creation of the
    same objects with the official client (the Velero-style baseline).

    .venv/bin/python bench/aegis_backup.py                       # BENCH_OBJECTS=20000
    BENCH_OBJECTS=5000 BENCH_SERVER=fake .venv/bin/python bench/aegis_backup.py

Environment: BENCH_OBJECTS (20000), BENCH_SERVER (auto|real|fake), BENCH_WORKERS (restore pool, 8),
BENCH_PER_NAMESPACE (1000 objects per namespace), OCO_KUBE_CACHE (binary cache of kube-testenv.sh).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OBJECTS = int(os.environ.get("BENCH_OBJECTS", "20000"))
SERVER = os.environ.get("BENCH_SERVER", "auto")
WORKERS = int(os.environ.get("BENCH_WORKERS", "8"))
PER_NAMESPACE = int(os.environ.get("BENCH_PER_NAMESPACE", "1000"))
SMALL = 2000
PAYLOAD = "x" * 1000
CACHE = Path(os.environ.get("OCO_KUBE_CACHE", "/var/cache/oco-kube"))
TESTENV = ROOT / "scripts" / "kube-testenv.sh"


@dataclass
class Cluster:
    name: str
    kubeconfig: str
    version: str


def namespaces_for(total: int) -> list[str]:
    return [f"bench-{i:03d}" for i in range((total + PER_NAMESPACE - 1) // PER_NAMESPACE)]


def configmaps(total: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects: (namespace, body), PER_NAMESPACE per namespace."""
    for i in range(total):
        namespace = f"bench-{i // PER_NAMESPACE:03d}"
        yield (
            namespace,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i:06d}", "namespace": namespace, "labels": {"bench": "aegis"}},
                "data": {"payload": PAYLOAD, "index": str(i)},
            },
        )


# -- child processes (spawned): each returns its own numbers --------------------------------------------


def _api(kubeconfig: str, pool: int = 32) -> Any:
    from aegis.kube.clusters import ClusterRegistry

    registry = ClusterRegistry.from_mapping({"clusters": {"c": {"kubeconfig": kubeconfig}}})
    return registry.api_client("c", pool_size=pool)


def _rss_mib(field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident set of this process in MiB. Not getrusage's ru_maxrss:
    Linux carries that over exec, so a spawned child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_list(kubeconfig: str, namespaces: list[str], typed: bool) -> dict[str, Any]:
    import orjson
    from kubernetes import client

    with _api(kubeconfig) as api:
        core = client.CoreV1Api(api)
        base = _rss_mib("VmRSS")
        started = time.perf_counter()
        count = 0
        for namespace in namespaces:
            token = None
            while True:
                if typed:
                    page = core.list_namespaced_config_map(namespace, limit=500, _continue=token)
                    count += len(page.items)
                    token = page.metadata._continue
                else:
                    raw = core.list_namespaced_config_map(
                        namespace, limit=500, _continue=token, _preload_content=False
                    )
                    data = orjson.loads(raw.data)
                    count += len(data["items"])
                    token = data["metadata"].get("continue")
                if not token:
                    break
        return {"seconds": time.perf_counter() - started, "objects": count, "rss": _rss_mib(), "base": base}


def child_backup(kubeconfig: str, namespaces: list[str], store: str, key: str) -> dict[str, Any]:
    from aegis.backups.spec import BackupSpec
    from aegis.engine import run_backup
    from aegis.storage.local import LocalStorage

    with _api(kubeconfig) as api:
        base = _rss_mib("VmRSS")
        spec = BackupSpec(
            name=key.split("/")[1],
            cluster="bench",
            included_namespaces=namespaces,
            include_cluster_resources="false",
        )
        started = time.perf_counter()
        outcome = run_backup(api, spec, LocalStorage(store), key, work_dir=store)
        seconds = time.perf_counter() - started
    assert outcome.phase.value == "Completed", (outcome.phase, outcome.error, outcome.errors[:3])
    return {
        "seconds": seconds,
        "objects": outcome.items_done,
        "rss": _rss_mib(),
        "base": base,
        "size": outcome.size_bytes,
        "sha256": outcome.sha256,
    }


def child_restore(kubeconfig: str, store: str, key: str, sha256: str, workers: int) -> dict[str, Any]:
    from aegis.engine import run_restore
    from aegis.restores.spec import RestoreSpec
    from aegis.storage.local import LocalStorage

    with _api(kubeconfig, pool=max(32, 2 * workers)) as api:
        base = _rss_mib("VmRSS")
        spec = RestoreSpec(name="bench-restore", parallelism=workers)
        started = time.perf_counter()
        outcome = run_restore(api, LocalStorage(store), key, sha256, spec, work_dir=store)
        seconds = time.perf_counter() - started
    assert outcome.phase.value == "Completed", (outcome.phase, outcome.error)
    return {
        "seconds": seconds,
        "objects": outcome.counts["created"],
        "rss": _rss_mib(),
        "base": base,
    }


def child_create_one_at_a_time(kubeconfig: str, total: int) -> dict[str, Any]:
    """The same objects, into `<namespace>-seq`, one create call after another with the official client."""
    from kubernetes import client

    with _api(kubeconfig, pool=1) as api:
        core = client.CoreV1Api(api)
        base = _rss_mib("VmRSS")
        started = time.perf_counter()
        for namespace in namespaces_for(total):
            core.create_namespace({"metadata": {"name": f"{namespace}-seq"}})
        count = 0
        for namespace, body in configmaps(total):
            body["metadata"]["namespace"] = f"{namespace}-seq"
            core.create_namespaced_config_map(f"{namespace}-seq", body)
            count += 1
        return {"seconds": time.perf_counter() - started, "objects": count, "rss": _rss_mib(), "base": base}


def _trampoline(target: Callable[..., dict[str, Any]], args: tuple[Any, ...], queue: Any) -> None:
    try:
        queue.put(("ok", target(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def in_child(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_trampoline, args=(target, args, queue))
    process.start()
    status, value = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(value)
    return value


# -- the servers ------------------------------------------------------------------------------------------


@contextmanager
def real_servers(work: Path) -> Iterator[tuple[Cluster, Cluster]]:
    dirs = [work / "kube-source", work / "kube-target"]
    try:
        clusters = []
        for name, state in zip(("source", "target"), dirs, strict=True):
            state.mkdir()
            subprocess.run(
                ["bash", str(TESTENV), "start", str(state)], check=True, capture_output=True, timeout=300
            )
            env = dict(line.split("=", 1) for line in (state / "env").read_text().splitlines() if "=" in line)
            clusters.append(Cluster(name, env["KUBECONFIG"].strip(), _version(env["KUBECONFIG"].strip())))
        yield clusters[0], clusters[1]
    finally:
        for state in dirs:
            if state.exists():
                subprocess.run(["bash", str(TESTENV), "stop", str(state)], capture_output=True, timeout=120)


@contextmanager
def fake_servers(work: Path) -> Iterator[tuple[Cluster, Cluster]]:
    from tests.aegis.fake_kube import FakeKubeServer

    with FakeKubeServer(work) as source, FakeKubeServer(work) as target:
        source_cluster = Cluster("source", str(source.kubeconfig), "fake")
        source_cluster.fake = source  # type: ignore[attr-defined]
        yield source_cluster, Cluster("target", str(target.kubeconfig), "fake")


def _version(kubeconfig: str) -> str:
    from aegis.kube.clusters import check_reachability

    with _api(kubeconfig, pool=1) as api:
        return check_reachability(api).version or "?"


def populate(cluster: Cluster, total: int) -> float:
    """Create the objects on the source; returns the seconds it took (real: 16 client threads)."""
    started = time.perf_counter()
    fake = getattr(cluster, "fake", None)
    if fake is not None:
        for namespace in namespaces_for(total):
            fake.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        for _namespace, body in configmaps(total):
            fake.fake.seed(body)
        return time.perf_counter() - started
    from kubernetes import client

    with _api(cluster.kubeconfig, pool=16) as api:
        core = client.CoreV1Api(api)
        for namespace in namespaces_for(total):
            core.create_namespace({"metadata": {"name": namespace}})
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda item: core.create_namespaced_config_map(item[0], item[1]),
                    configmaps(total),
                    chunksize=64,
                )
            )
    return time.perf_counter() - started


# -- the run ----------------------------------------------------------------------------------------------


def main() -> None:
    use_real = SERVER == "real" or (SERVER == "auto" and (CACHE / "bin" / "kube-apiserver").is_file())
    work = Path(tempfile.mkdtemp(prefix="aegis-bench-"))
    servers = real_servers(work) if use_real else fake_servers(work)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        with servers as (source, target):
            print(
                f"server: {'kube-apiserver ' + source.version if use_real else 'in-process fake API server'}"
            )
            print(
                f"creating {OBJECTS} config maps (~1 KiB) in {len(namespaces_for(OBJECTS))} namespaces ...",
                flush=True,
            )
            seeded = populate(source, OBJECTS)
            print(f"  created in {seeded:.1f} s", flush=True)
            all_ns = namespaces_for(OBJECTS)
            store = str(work / "store")
            os.makedirs(store)

            rows.append(
                ("list, raw JSON pages (floor)", in_child(child_list, source.kubeconfig, all_ns, False))
            )
            rows.append(("list, typed client models", in_child(child_list, source.kubeconfig, all_ns, True)))
            full = in_child(child_backup, source.kubeconfig, all_ns, store, "backups/full/full.tar.gz")
            rows.append((f"backup, {OBJECTS} objects", full))
            if OBJECTS > SMALL:
                small_ns = namespaces_for(SMALL)
                small = in_child(
                    child_backup, source.kubeconfig, small_ns, store, "backups/small/small.tar.gz"
                )
                rows.append((f"backup, {small['objects']} objects", small))
            restore = in_child(
                child_restore, target.kubeconfig, store, "backups/full/full.tar.gz", full["sha256"], WORKERS
            )
            rows.append((f"restore, engine pool of {WORKERS}", restore))
            sequential = in_child(child_create_one_at_a_time, target.kubeconfig, OBJECTS)
            rows.append(("create one at a time (client)", sequential))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"{'step':38s} {'objects':>8s} {'seconds':>8s} {'obj/s':>8s} {'peak RSS MiB':>13s} {'(start MiB)':>11s}"
    )
    for label, row in rows:
        rate = row["objects"] / row["seconds"] if row["seconds"] else 0
        print(
            f"{label:38s} {row['objects']:8d} {row['seconds']:8.2f} {rate:8.0f} {row['rss']:13.1f} {row['base']:11.1f}"
        )
    results = dict(rows)
    floor = results["list, raw JSON pages (floor)"]["seconds"]
    backup = results[f"backup, {OBJECTS} objects"]
    print()
    print(f"backup / list floor:            {backup['seconds'] / floor:5.2f}x   (target <= 1.5x)")
    print(f"archive size:                   {backup['size'] / 1e6:.1f} MB for {backup['objects']} objects")
    restore_row = results[f"restore, engine pool of {WORKERS}"]
    sequential_row = results["create one at a time (client)"]
    print(
        f"restore speed-up vs one-at-a-time: {sequential_row['seconds'] / restore_row['seconds']:5.2f}x   (target >= 5x)"
    )
    small_rows = [row for label, row in rows if label.startswith("backup, ") and row is not backup]
    if small_rows:
        print(
            f"backup peak RSS: {small_rows[0]['rss']:.1f} MiB at {small_rows[0]['objects']} objects, "
            f"{backup['rss']:.1f} MiB at {backup['objects']}   (target: flat, < 200 MiB)"
        )


if __name__ == "__main__":
    main()
