"""Aegis backup/restore benchmark: config maps (~1 KiB each) on a real kube-apiserver (two, started with
scripts/kube-testenv.sh, when the binary cache exists) or else the in-process fake API server.

For each size (ascending; the source grows to each size in turn, so it holds exactly those objects),
measured in the same run, each step in a fresh child process (so peak RSS is the step's own):
  - the list floor: the same objects merely listed with the official client's pool and auth, raw JSON
    pages decoded with orjson (the cheaper of one cluster-wide list and one list per namespace);
  - a backup of the same namespaces with the engine (time, peak RSS); floor and backup alternate
    BENCH_REPEAT times and the best of each is kept (the machine is shared);
  - a restore into the second server with the engine's pool (BENCH_WORKERS), total time from reading
    the archive to the last object;
  - the baseline: the same objects applied one at a time the way a simple tool does it with the
    official typed client (create; on 409 read + replace), namespaces created first;
  - for reference, the engine's restore with other pools (8, the service default; 1: no parallelism).
  - the best restore speed-up this machine allows: one-at-a-time wall time over the parallel restore's server
    CPU (kube-apiserver + etcd) spread across every core, a floor no client can go under.
Each restore writes to its own namespaces on the target (namespace_mapping), so none meets a 409.

    .venv/bin/python bench/aegis_backup.py                        # BENCH_SIZES=2000,20000
    BENCH_SIZES=2000,20000,100000 .venv/bin/python bench/aegis_backup.py
    BENCH_SIZES=5000 BENCH_SERVER=fake .venv/bin/python bench/aegis_backup.py

Environment: BENCH_SIZES (2000,20000), BENCH_SERVER (auto|real|fake), BENCH_WORKERS (restore pool, 32),
BENCH_REPEAT (3), BENCH_EXTRA_WORKERS (8,1: extra restores with these pools, 1 = the engine without
parallelism) up to BENCH_EXTRA_MAX objects (20000), BENCH_PER_NAMESPACE (1000 objects per namespace), OCO_KUBE_CACHE (binary cache of kube-testenv.sh).
CPU seconds: "client" is the child process (all threads), "server" is kube-apiserver + etcd (real only).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = sorted(int(x) for x in os.environ.get("BENCH_SIZES", "2000,20000").split(",") if x.strip())
SERVER = os.environ.get("BENCH_SERVER", "auto")
WORKERS = int(os.environ.get("BENCH_WORKERS", "32"))
#: Extra restores for comparison (other pool sizes; 1 = the engine without parallelism), up to EXTRA_MAX.
EXTRA_WORKERS = [int(x) for x in os.environ.get("BENCH_EXTRA_WORKERS", "8,1").split(",") if x.strip()]
EXTRA_MAX = int(os.environ.get("BENCH_EXTRA_MAX", "20000"))
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
PER_NAMESPACE = int(os.environ.get("BENCH_PER_NAMESPACE", "1000"))
PAYLOAD = "x" * 1000
CACHE = Path(os.environ.get("OCO_KUBE_CACHE", "/var/cache/oco-kube"))
TESTENV = ROOT / "scripts" / "kube-testenv.sh"


@dataclass
class Cluster:
    name: str
    kubeconfig: str
    version: str
    pids: list[int] = field(default_factory=list)  # kube-apiserver and etcd (real servers)
    fake: Any = None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server processes; 0 for the fake server."""
        total = 0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")


def namespace(prefix: str, index: int) -> str:
    return f"{prefix}-{index // PER_NAMESPACE:03d}"


def namespaces_for(total: int, prefix: str = "bench") -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range((total + PER_NAMESPACE - 1) // PER_NAMESPACE)]


def configmaps(start: int, end: int, prefix: str = "bench") -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects with indexes [start, end): (namespace, body), PER_NAMESPACE per namespace."""
    for i in range(start, end):
        ns = namespace(prefix, i)
        yield (
            ns,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i:06d}", "namespace": ns, "labels": {"bench": "aegis"}},
                "data": {"payload": PAYLOAD, "index": str(i)},
            },
        )


# -- child processes (spawned): each returns its own numbers --------------------------------------------


def _api(kubeconfig: str, pool: int = 32) -> Any:
    from aegis.kube.clusters import ClusterRegistry

    registry = ClusterRegistry.from_mapping({"clusters": {"c": {"kubeconfig": kubeconfig}}})
    return registry.api_client("c", pool_size=pool)


def _connection(kubeconfig: str, pool: int = 32) -> Any:
    from aegis.kube.clusters import ClusterRegistry

    registry = ClusterRegistry.from_mapping({"clusters": {"c": {"kubeconfig": kubeconfig}}})
    return registry.connect("c", pool_size=pool)


def _rss_mib(field_name: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident set of this process in MiB. Not getrusage's ru_maxrss:
    Linux carries that over exec, so a spawned child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def _measured(result: dict[str, Any]) -> Iterator[None]:
    cpu, started = time.process_time(), time.perf_counter()
    yield
    result["seconds"] = time.perf_counter() - started
    result["cpu"] = time.process_time() - cpu
    result["rss"] = _rss_mib()


def child_list(kubeconfig: str, namespaces: list[str], cluster_wide: bool) -> dict[str, Any]:
    """A floor candidate: raw JSON pages decoded with orjson, one cluster-wide list or one per namespace."""
    import orjson
    from kubernetes import client

    def pages(call: Callable[..., Any], *args: Any) -> int:
        count, token = 0, None
        while True:
            raw = call(*args, limit=500, _continue=token, _preload_content=False)
            data = orjson.loads(raw.data)
            count += sum(1 for item in data["items"] if item["metadata"]["namespace"] in wanted)
            token = data["metadata"].get("continue")
            if not token:
                return count

    wanted = set(namespaces)
    result: dict[str, Any] = {"how": "cluster-wide" if cluster_wide else "per namespace"}
    with _api(kubeconfig) as api:
        core = client.CoreV1Api(api)
        with _measured(result):
            if cluster_wide:
                result["objects"] = pages(core.list_config_map_for_all_namespaces)
            else:
                result["objects"] = sum(pages(core.list_namespaced_config_map, ns) for ns in namespaces)
    return result


def child_backup(kubeconfig: str, namespaces: list[str], store: str, key: str) -> dict[str, Any]:
    from aegis.backups.runner import run_backup
    from aegis.backups.spec import BackupSpec
    from aegis.storage.local import LocalStorage

    result: dict[str, Any] = {}
    with _connection(kubeconfig) as cluster:
        spec = BackupSpec(
            name=key.split("/")[1],
            cluster="bench",
            included_namespaces=namespaces,
            include_cluster_resources="false",
        )
        with _measured(result):
            outcome = run_backup(cluster, spec, LocalStorage(store), key, work_dir=store)
    assert outcome.phase.value == "Completed", (outcome.phase, outcome.error, outcome.errors[:3])
    result.update(objects=outcome.counts.get("configmaps", 0), size=outcome.size_bytes, sha256=outcome.sha256)
    return result


def child_restore(
    kubeconfig: str, store: str, key: str, sha256: str, workers: int, mapping: dict[str, str]
) -> dict[str, Any]:
    from aegis.restores.runner import run_restore
    from aegis.restores.spec import RestoreSpec
    from aegis.storage.local import LocalStorage

    result: dict[str, Any] = {}
    with _connection(kubeconfig, pool=max(32, 2 * workers)) as cluster:
        spec = RestoreSpec(name="bench-restore", parallelism=workers, namespace_mapping=mapping)
        with _measured(result):
            outcome = run_restore(cluster, LocalStorage(store), key, sha256, spec, work_dir=store)
    assert outcome.phase.value == "Completed", (outcome.phase, outcome.error)
    result["objects"] = sum(
        1 for r in outcome.results if r.resource == "configmaps" and r.outcome == "created"
    )
    return result


def child_one_at_a_time(kubeconfig: str, total: int, prefix: str) -> dict[str, Any]:
    """The baseline: the same objects, one request after another with the official typed client, as a
    simple tool applies manifests: create; on 409 AlreadyExists read the live object and replace it."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    def apply_namespace(name: str) -> None:
        try:
            core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except ApiException as exc:
            if exc.status != 409:
                raise

    def apply_configmap(ns: str, body: dict[str, Any]) -> None:
        try:
            core.create_namespaced_config_map(ns, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            name = body["metadata"]["name"]
            live = core.read_namespaced_config_map(name, ns)
            body["metadata"]["resourceVersion"] = live.metadata.resource_version
            core.replace_namespaced_config_map(name, ns, body)

    result: dict[str, Any] = {}
    with _api(kubeconfig, pool=1) as api:
        core = client.CoreV1Api(api)
        with _measured(result):
            for name in namespaces_for(total, prefix):
                apply_namespace(name)
            count = 0
            for ns, body in configmaps(0, total, prefix):
                apply_configmap(ns, body)
                count += 1
    result["objects"] = count
    return result


def _trampoline(target: Callable[..., dict[str, Any]], args: tuple[Any, ...], queue: Any) -> None:
    try:
        queue.put(("ok", target(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def in_child(cluster: Cluster, target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``target`` in a spawned process; adds the server CPU seconds spent meanwhile."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_trampoline, args=(target, args, queue))
    server_cpu = cluster.cpu_seconds()
    process.start()
    status, value = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(value)
    value["server_cpu"] = cluster.cpu_seconds() - server_cpu
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
            kubeconfig = env["KUBECONFIG"].strip()
            pids = [int(env[k].strip()) for k in ("KUBE_APISERVER_PID", "ETCD_PID") if k in env]
            clusters.append(Cluster(name, kubeconfig, _version(kubeconfig), pids))
        yield clusters[0], clusters[1]
    finally:
        for state in dirs:
            if state.exists():
                subprocess.run(["bash", str(TESTENV), "stop", str(state)], capture_output=True, timeout=120)


@contextmanager
def fake_servers(work: Path) -> Iterator[tuple[Cluster, Cluster]]:
    from tests.aegis.fake_kube import FakeKubeServer

    with FakeKubeServer(work) as source, FakeKubeServer(work) as target:
        yield (
            Cluster("source", str(source.kubeconfig), "fake", fake=source),
            Cluster("target", str(target.kubeconfig), "fake"),
        )


def _version(kubeconfig: str) -> str:
    from aegis.kube.clusters import check_reachability

    with _api(kubeconfig, pool=1) as api:
        return check_reachability(api).version or "?"


def populate(cluster: Cluster, start: int, end: int) -> float:
    """Grow the source from ``start`` to ``end`` objects; returns the seconds it took."""
    started = time.perf_counter()
    new_namespaces = [ns for ns in namespaces_for(end) if ns not in namespaces_for(start)]
    if cluster.fake is not None:
        for ns in new_namespaces:
            cluster.fake.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for _ns, body in configmaps(start, end):
            cluster.fake.fake.seed(body)
        return time.perf_counter() - started
    from kubernetes import client

    with _api(cluster.kubeconfig, pool=16) as api:
        core = client.CoreV1Api(api)
        for ns in new_namespaces:
            core.create_namespace({"metadata": {"name": ns}})
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda item: core.create_namespaced_config_map(item[0], item[1]),
                    configmaps(start, end),
                    chunksize=64,
                )
            )
    return time.perf_counter() - started


# -- the run ----------------------------------------------------------------------------------------------


def measure_size(source: Cluster, target: Cluster, total: int, store: str) -> dict[str, Any]:
    namespaces = namespaces_for(total)
    key = f"backups/b{total}/b{total}.tar.gz"
    floors, backups = [], []
    for _ in range(REPEAT):
        for cluster_wide in (True, False):
            floors.append(in_child(source, child_list, source.kubeconfig, namespaces, cluster_wide))
        backups.append(in_child(source, child_backup, source.kubeconfig, namespaces, store, key))
    for run in (*floors, *backups):
        assert run["objects"] == total, (run, total)
    floor = min(floors, key=lambda r: r["seconds"])
    backup = min(backups, key=lambda r: r["seconds"])
    backup["rss"] = max(r["rss"] for r in backups)
    stored_sha256 = backups[-1]["sha256"]  # each run overwrote the key: the last one is stored

    def mapping(prefix: str) -> dict[str, str]:
        return dict(zip(namespaces, namespaces_for(total, prefix), strict=True))

    row: dict[str, Any] = {"objects": total, "floor": floor, "backup": backup}
    print(f"  {total}: one at a time ...", flush=True)
    row["sequential"] = in_child(target, child_one_at_a_time, target.kubeconfig, total, f"s{total}")
    print(f"  {total}: restore, pool of {WORKERS} ...", flush=True)
    row["parallel"] = in_child(
        target, child_restore, target.kubeconfig, store, key, stored_sha256, WORKERS, mapping(f"p{total}")
    )
    row["extra"] = {}
    for workers in EXTRA_WORKERS if total <= EXTRA_MAX else []:
        print(f"  {total}: restore, pool of {workers} ...", flush=True)
        row["extra"][workers] = in_child(
            target,
            child_restore,
            target.kubeconfig,
            store,
            key,
            stored_sha256,
            workers,
            mapping(f"q{workers}x{total}"),
        )
    for step in (row["sequential"], row["parallel"], *row["extra"].values()):
        assert step["objects"] == total, (step, total)
    return row


def report(rows: list[dict[str, Any]]) -> None:
    print()
    header = (
        f"{'objects':>8s} {'list floor s':>12s} {'backup s':>9s} {'ratio':>6s} {'peak RSS MB':>11s} "
        f"{'restore par. s':>14s} {'obj/s':>6s} {'one-at-a-time s':>15s} {'obj/s':>6s} {'speed-up':>8s}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        n, floor, backup = row["objects"], row["floor"], row["backup"]
        par, seq = row["parallel"], row["sequential"]
        print(
            f"{n:8d} {floor['seconds']:12.2f} {backup['seconds']:9.2f} "
            f"{backup['seconds'] / floor['seconds']:5.2f}x {backup['rss'] * 1.048576:11.1f} "
            f"{par['seconds']:14.2f} {n / par['seconds']:6.0f} {seq['seconds']:15.2f} "
            f"{n / seq['seconds']:6.0f} {seq['seconds'] / par['seconds']:7.2f}x"
        )
    print(
        f"targets: backup <= 1.5x the floor; peak RSS flat and < 200 MB; restore >= 5x one at a time. "
        f"Restore pool: {WORKERS}. Floor and backup: best of {REPEAT}, RSS: the highest."
    )
    print()
    print("CPU seconds (client = the measuring process, all threads; server = kube-apiserver + etcd):")
    print(f"{'objects':>8s} {'step':32s} {'wall s':>8s} {'client CPU s':>12s} {'server CPU s':>12s}")
    for row in rows:
        steps = [
            (f"list floor ({row['floor']['how']})", row["floor"]),
            ("backup", row["backup"]),
            (f"restore, engine pool of {WORKERS}", row["parallel"]),
            ("one at a time (typed client)", row["sequential"]),
        ]
        for workers, step in row["extra"].items():
            steps.append((f"restore, engine pool of {workers}", step))
        for label, step in steps:
            print(
                f"{row['objects']:8d} {label:32s} {step['seconds']:8.2f} {step['cpu']:12.2f} "
                f"{step['server_cpu']:12.2f}"
            )
        for workers, step in row["extra"].items():
            print(
                f"{row['objects']:8d} {'':32s} pool of {WORKERS} vs pool of {workers}: "
                f"{step['seconds'] / row['parallel']['seconds']:.2f}x"
            )
    cores = os.cpu_count() or 1
    for row in rows:
        server_cpu = row["parallel"]["server_cpu"]
        if server_cpu:
            # the server's own CPU for the parallel restore, spread over every core, is a floor on its wall
            # time whatever the client does; one-at-a-time over that floor is the best speed-up possible here
            bound = row["sequential"]["seconds"] / (server_cpu / cores)
            print(
                f"{row['objects']:8d} best speed-up this machine allows: {bound:.2f}x (server CPU of the "
                f"restore with a pool of {WORKERS}: {server_cpu:.1f} s over {cores} cores, even with a client that costs nothing)"
            )


def main() -> None:
    use_real = SERVER == "real" or (SERVER == "auto" and (CACHE / "bin" / "kube-apiserver").is_file())
    work = Path(tempfile.mkdtemp(prefix="aegis-bench-"))
    servers = real_servers(work) if use_real else fake_servers(work)
    rows: list[dict[str, Any]] = []
    try:
        with servers as (source, target):
            print(
                f"server: {'kube-apiserver ' + source.version if use_real else 'in-process fake API server'}"
            )
            print(
                f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True
            )
            store = str(work / "store")
            os.makedirs(store)
            have = 0
            for total in SIZES:
                print(f"growing the source to {total} config maps ...", flush=True)
                seconds = populate(source, have, total)
                have = total
                print(f"  created in {seconds:.1f} s", flush=True)
                rows.append(measure_size(source, target, total, store))
                report(rows)  # so far: a long run still leaves numbers behind
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
