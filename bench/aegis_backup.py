"""Aegis backup/restore benchmark: config maps (~1 KiB each) on a real kube-apiserver (two, started with
scripts/kube-testenv.sh, when the binary cache exists) or else the in-process fake API server.

For each size (ascending; the source grows to each size in turn, so it holds exactly those objects),
measured in the same run, each step in a fresh child process (so peak RSS is the step's own):
  - the list floor: the same objects merely listed with the official client's pool and auth, raw JSON
    pages decoded with orjson (the cheaper of one cluster-wide list and one list per namespace);
  - a backup of the same namespaces with the engine (time, peak RSS); floor and backup alternate
    --repeat times and the best of each is kept (the machine is shared);
  - --repeat rounds of: the baseline, the same objects applied one at a time the way a simple tool
    does it with the official typed client (create; on 409 read + replace), namespaces created first;
    then a restore into the second server with the engine's pool (--workers), total time from reading
    the archive to the last object. Medians are reported;
  - the best restore speed-up this machine allows, per round: one-at-a-time wall time over the parallel
    restore's server CPU (kube-apiserver + etcd) spread across every core, a floor no client can go
    under. The target: the parallel restore reaches >= 75% of it. That ratio is the server's CPU floor
    over the restore's wall time; other processes on the machine (measured from /proc/stat, "others")
    take cores from both, so a load-adjusted ratio (the cores left to us) is printed beside it;
  - existing_resource_policy "update" restores over objects that exist: a full update (every live
    object differs from the backup: the baseline's objects, written with another payload) and a
    re-restore over the parallel restore's objects after --changed of them were edited: time and
    the write requests the target answered (its apiserver_request_total, or the fake's count);
  - for reference, the engine's restore with other pools (--extra-workers; 1: no parallelism).
Each restore writes to its own namespaces on the target (namespace_mapping), so none meets a 409.

    .venv/bin/python bench/aegis_backup.py --help
    .venv/bin/python bench/aegis_backup.py                         # sizes 2000,20000
    .venv/bin/python bench/aegis_backup.py --sizes 5000 --repeat 3 --extra-workers 8
    .venv/bin/python bench/aegis_backup.py --sizes 5000 --server fake

Every option has an environment variable (BENCH_SIZES, BENCH_SERVER, BENCH_WORKERS, BENCH_REPEAT,
BENCH_EXTRA_WORKERS, BENCH_EXTRA_MAX, BENCH_PER_NAMESPACE, BENCH_CHANGED), OCO_KUBE_CACHE the binary
cache of kube-testenv.sh. CPU seconds: "client" is the child process (all threads), "server" is
kube-apiserver + etcd (real only).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
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
CHANGED = int(os.environ.get("BENCH_CHANGED", "100"))
PAYLOAD = "x" * 1000
#: The baseline writes this payload instead, so that an update restore over its objects changes each one.
OTHER_PAYLOAD = "y" * 1000
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

    def write_requests(self) -> Counter[str]:
        """Write requests to config maps the server has answered so far, by verb (dry runs excluded):
        the real server's own apiserver_request_total, or the fake's request log."""
        if self.fake is not None:
            return Counter(
                r.method
                for r in list(self.fake.fake.requests)
                if r.method in ("POST", "PUT", "PATCH", "DELETE")
                and "/configmaps" in r.path
                and r.query.get("dryRun") != "All"
            )
        from prometheus_client.parser import text_string_to_metric_families

        from aegis.kube.transport import KubeTransport, close_wire_pool

        with _api(self.kubeconfig, pool=1) as api:
            text = KubeTransport(api).request("GET", "/metrics").data.decode()
            close_wire_pool(api)
        counts: Counter[str] = Counter()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == "apiserver_request_total"
                    and labels.get("resource") == "configmaps"
                    and labels.get("verb") in ("POST", "PUT", "PATCH", "DELETE", "APPLY")
                    and not labels.get("dry_run")
                ):
                    counts[labels["verb"]] += int(sample.value)
        return counts


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (all cores; /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def namespace(prefix: str, index: int) -> str:
    return f"{prefix}-{index // PER_NAMESPACE:03d}"


def namespaces_for(total: int, prefix: str = "bench") -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range((total + PER_NAMESPACE - 1) // PER_NAMESPACE)]


def configmaps(
    start: int, end: int, prefix: str = "bench", payload: str = PAYLOAD
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects with indexes [start, end): (namespace, body), PER_NAMESPACE per namespace."""
    for i in range(start, end):
        ns = namespace(prefix, i)
        yield (
            ns,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i:06d}", "namespace": ns, "labels": {"bench": "aegis"}},
                "data": {"payload": payload, "index": str(i)},
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
    cpu, started, busy = time.process_time(), time.perf_counter(), machine_busy_seconds()
    yield
    result["seconds"] = time.perf_counter() - started
    result["cpu"] = time.process_time() - cpu
    result["busy"] = machine_busy_seconds() - busy
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
    kubeconfig: str,
    store: str,
    key: str,
    sha256: str,
    workers: int,
    mapping: dict[str, str],
    policy: str = "skip",
) -> dict[str, Any]:
    from aegis.restores.runner import run_restore
    from aegis.restores.spec import RestoreSpec
    from aegis.storage.local import LocalStorage

    result: dict[str, Any] = {}
    with _connection(kubeconfig, pool=max(32, 2 * workers)) as cluster:
        spec = RestoreSpec(
            name="bench-restore",
            parallelism=workers,
            namespace_mapping=mapping,
            existing_resource_policy=policy,
        )
        with _measured(result):
            outcome = run_restore(cluster, LocalStorage(store), key, sha256, spec, work_dir=store)
    assert outcome.phase.value == "Completed", (outcome.phase, outcome.error)
    configmaps = [r for r in outcome.results if r.resource == "configmaps"]
    result["outcomes"] = dict(Counter(str(r.outcome) for r in configmaps))
    result["objects"] = len(configmaps)
    return result


def child_one_at_a_time(kubeconfig: str, total: int, prefix: str, payload: str = PAYLOAD) -> dict[str, Any]:
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
            for ns, body in configmaps(0, total, prefix, payload):
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
    """Run ``target`` in a spawned process; adds the server CPU seconds spent meanwhile, the write
    requests the server answered and what every other process on the machine used ("others")."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_trampoline, args=(target, args, queue))
    writes = cluster.write_requests()
    server_cpu = cluster.cpu_seconds()
    process.start()
    status, value = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(value)
    value["server_cpu"] = cluster.cpu_seconds() - server_cpu
    # Machine CPU within the child's measured window, less its own and the server's (the latter taken over
    # the child's whole life, a little more than in the window: "others" errs low, the adjusted ratio too).
    value["others_cpu"] = max(0.0, value["busy"] - value["server_cpu"] - value["cpu"])
    value["writes"] = dict(cluster.write_requests() - writes)
    return value


def edit_configmaps(cluster: Cluster, prefix: str, total: int, count: int) -> int:
    """Change ``count`` of the config maps in the ``prefix`` namespaces (spread evenly) with the typed client."""
    from kubernetes import client

    step = max(1, total // max(count, 1))
    indexes = list(range(0, total, step))[:count]
    with _api(cluster.kubeconfig, pool=1) as api:
        core = client.CoreV1Api(api)
        for i in indexes:
            ns, name = namespace(prefix, i), f"cm-{i:06d}"
            live = core.read_namespaced_config_map(name, ns)
            live.data["payload"] = "edited since the backup"
            core.replace_namespaced_config_map(name, ns, live)
    return len(indexes)


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
            Cluster("target", str(target.kubeconfig), "fake", fake=target),
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

    def restore(workers: int, prefix: str, policy: str = "skip") -> dict[str, Any]:
        return in_child(
            target,
            child_restore,
            target.kubeconfig,
            store,
            key,
            stored_sha256,
            workers,
            mapping(prefix),
            policy,
        )

    row: dict[str, Any] = {"objects": total, "floor": floor, "backup": backup, "rounds": []}
    for r in range(REPEAT):
        print(f"  {total}: round {r + 1}/{REPEAT}: one at a time ...", flush=True)
        sequential = in_child(
            target, child_one_at_a_time, target.kubeconfig, total, f"s{total}r{r}", OTHER_PAYLOAD
        )
        print(f"  {total}: round {r + 1}/{REPEAT}: restore, pool of {WORKERS} ...", flush=True)
        parallel = restore(WORKERS, f"p{total}r{r}")
        assert sequential["objects"] == total and parallel["outcomes"] == {"created": total}, parallel
        row["rounds"].append({"sequential": sequential, "parallel": parallel})

    # Update restores over objects that exist: every one differs, or CHANGED of them were edited.
    print(f"  {total}: update restore, every object differs ...", flush=True)
    row["update_all"] = restore(WORKERS, f"s{total}r0", "update")
    assert row["update_all"]["outcomes"] == {"updated": total}, row["update_all"]["outcomes"]
    edited = edit_configmaps(target, f"p{total}r0", total, CHANGED)
    print(f"  {total}: update re-restore, {edited} of {total} changed ...", flush=True)
    row["update_changed"] = restore(WORKERS, f"p{total}r0", "update")
    expected = {"updated": edited, "unchanged": total - edited} if edited < total else {"updated": total}
    assert row["update_changed"]["outcomes"] == expected, row["update_changed"]["outcomes"]
    row["edited"] = edited

    row["extra"] = {}
    for workers in EXTRA_WORKERS if total <= EXTRA_MAX else []:
        print(f"  {total}: restore, pool of {workers} ...", flush=True)
        row["extra"][workers] = restore(workers, f"q{workers}x{total}")
        assert row["extra"][workers]["objects"] == total
    return row


def _bound(rnd: dict[str, Any], cores: int) -> float:
    """One-at-a-time wall time over the parallel restore's server CPU spread over every core."""
    server_cpu = rnd["parallel"]["server_cpu"]
    return rnd["sequential"]["seconds"] / (server_cpu / cores) if server_cpu else float("nan")


def _ratio(rnd: dict[str, Any], cores: int) -> float:
    return (rnd["sequential"]["seconds"] / rnd["parallel"]["seconds"]) / _bound(rnd, cores)


def _adjusted_ratio(rnd: dict[str, Any], cores: int) -> float:
    """The same ratio against the cores other processes left: server CPU over (cores x wall - others)."""
    par = rnd["parallel"]
    return (
        par["server_cpu"] / max(cores * par["seconds"] - par["others_cpu"], 1e-9)
        if par["server_cpu"]
        else float("nan")
    )


def _writes(step: dict[str, Any]) -> str:
    return " ".join(f"{verb} {n}" for verb, n in sorted(step["writes"].items())) or "none"


def report(rows: list[dict[str, Any]]) -> None:
    cores = os.cpu_count() or 1
    median = statistics.median
    print()
    header = (
        f"{'objects':>8s} {'list floor s':>12s} {'backup s':>9s} {'ratio':>6s} {'peak RSS MB':>11s} "
        f"{'restore par. s':>14s} {'obj/s':>6s} {'one-at-a-time s':>15s} {'obj/s':>6s} {'speed-up':>8s}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        n, floor, backup = row["objects"], row["floor"], row["backup"]
        par = median(r["parallel"]["seconds"] for r in row["rounds"])
        seq = median(r["sequential"]["seconds"] for r in row["rounds"])
        speedup = median(r["sequential"]["seconds"] / r["parallel"]["seconds"] for r in row["rounds"])
        print(
            f"{n:8d} {floor['seconds']:12.2f} {backup['seconds']:9.2f} "
            f"{backup['seconds'] / floor['seconds']:5.2f}x {backup['rss'] * 1.048576:11.1f} "
            f"{par:14.2f} {n / par:6.0f} {seq:15.2f} {n / seq:6.0f} {speedup:7.2f}x"
        )
    print(
        f"targets: backup <= 1.5x the floor; peak RSS flat and < 200 MB; parallel restore >= 75% of the best "
        f"speed-up this machine allows. Restore pool: {WORKERS}. Floor and backup: best of {REPEAT}, RSS: the "
        f"highest; restores: medians of {REPEAT} rounds."
    )
    print()
    print(
        f"Restore rounds (pool of {WORKERS} vs one at a time; bound = one-at-a-time wall / (server CPU of the "
        f"parallel restore / {cores} cores); others = CPU of every other process during the parallel restore):"
    )
    head = (
        f"{'objects':>8s} {'round':>5s} {'par. s':>7s} {'seq. s':>7s} {'speed-up':>8s} {'bound':>6s} "
        f"{'of bound':>8s} {'server CPU s':>12s} {'client CPU s':>12s} {'client ms/obj':>13s} "
        f"{'others CPU s':>12s} {'load-adj.':>9s}"
    )
    print(head)
    for row in rows:
        n = row["objects"]
        for i, rnd in enumerate(row["rounds"], 1):
            par, seq = rnd["parallel"], rnd["sequential"]
            print(
                f"{n:8d} {i:5d} {par['seconds']:7.2f} {seq['seconds']:7.2f} "
                f"{seq['seconds'] / par['seconds']:7.2f}x {_bound(rnd, cores):5.2f}x {_ratio(rnd, cores):8.0%} "
                f"{par['server_cpu']:12.2f} {par['cpu']:12.2f} {1000 * par['cpu'] / n:13.3f} "
                f"{par['others_cpu']:12.2f} {_adjusted_ratio(rnd, cores):9.0%}"
            )
        rounds = row["rounds"]
        print(
            f"{n:8d} {'med.':>5s} {median(r['parallel']['seconds'] for r in rounds):7.2f} "
            f"{median(r['sequential']['seconds'] for r in rounds):7.2f} "
            f"{median(r['sequential']['seconds'] / r['parallel']['seconds'] for r in rounds):7.2f}x "
            f"{median(_bound(r, cores) for r in rounds):5.2f}x {median(_ratio(r, cores) for r in rounds):8.0%} "
            f"{median(r['parallel']['server_cpu'] for r in rounds):12.2f} "
            f"{median(r['parallel']['cpu'] for r in rounds):12.2f} "
            f"{median(1000 * r['parallel']['cpu'] / n for r in rounds):13.3f} "
            f"{median(r['parallel']['others_cpu'] for r in rounds):12.2f} "
            f"{median(_adjusted_ratio(r, cores) for r in rounds):9.0%}"
        )
    print()
    print(
        f"Update restores (existing_resource_policy update, pool of {WORKERS}); writes: config map write requests the target answered:"
    )
    print(
        f"{'objects':>8s} {'step':38s} {'wall s':>7s} {'obj/s':>6s} {'writes':>14s} {'outcomes':30s} "
        f"{'client ms/obj':>13s} {'server CPU s':>12s}"
    )
    for row in rows:
        n = row["objects"]
        for label, step in (
            ("full update (every object differs)", row["update_all"]),
            (f"re-restore, {row['edited']} changed", row["update_changed"]),
        ):
            outcomes = " ".join(f"{k} {v}" for k, v in sorted(step["outcomes"].items()))
            print(
                f"{n:8d} {label:38s} {step['seconds']:7.2f} {n / step['seconds']:6.0f} {_writes(step):>14s} "
                f"{outcomes:30s} {1000 * step['cpu'] / n:13.3f} {step['server_cpu']:12.2f}"
            )
    print()
    print("CPU seconds (client = the measuring process, all threads; server = kube-apiserver + etcd):")
    print(f"{'objects':>8s} {'step':32s} {'wall s':>8s} {'client CPU s':>12s} {'server CPU s':>12s}")
    for row in rows:
        first = row["rounds"][0]
        steps = [
            (f"list floor ({row['floor']['how']})", row["floor"]),
            ("backup", row["backup"]),
            (f"restore, engine pool of {WORKERS}", first["parallel"]),
            ("one at a time (typed client)", first["sequential"]),
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
                f"{row['objects']:8d} {'':32s} pool of {WORKERS} vs pool of {workers} (round 1): "
                f"{step['seconds'] / first['parallel']['seconds']:.2f}x"
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Defaults come from the BENCH_* environment variables named in the module docstring.",
    )
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="object counts, ascending (2000,20000)"
    )
    parser.add_argument(
        "--server", choices=("auto", "real", "fake"), default=SERVER, help="API servers to use"
    )
    parser.add_argument("--workers", type=int, default=WORKERS, help="the engine's restore pool (32)")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="rounds of floor/backup and restore (3)")
    parser.add_argument(
        "--extra-workers",
        default=",".join(map(str, EXTRA_WORKERS)),
        help="extra restores with these pools (8,1; '' none)",
    )
    parser.add_argument(
        "--extra-max", type=int, default=EXTRA_MAX, help="extra restores only up to this size"
    )
    parser.add_argument("--per-namespace", type=int, default=PER_NAMESPACE, help="config maps per namespace")
    parser.add_argument(
        "--changed", type=int, default=CHANGED, help="objects edited before the update re-restore"
    )
    return parser.parse_args(argv)


def configure(args: argparse.Namespace) -> None:
    """Apply the options here and, through the environment, in every spawned child."""
    global SIZES, SERVER, WORKERS, REPEAT, EXTRA_WORKERS, EXTRA_MAX, PER_NAMESPACE, CHANGED
    os.environ.update(
        BENCH_SIZES=args.sizes,
        BENCH_SERVER=args.server,
        BENCH_WORKERS=str(args.workers),
        BENCH_REPEAT=str(args.repeat),
        BENCH_EXTRA_WORKERS=args.extra_workers,
        BENCH_EXTRA_MAX=str(args.extra_max),
        BENCH_PER_NAMESPACE=str(args.per_namespace),
        BENCH_CHANGED=str(args.changed),
    )
    SIZES = sorted(int(x) for x in args.sizes.split(",") if x.strip())
    SERVER, WORKERS, REPEAT = args.server, args.workers, max(1, args.repeat)
    EXTRA_WORKERS = [int(x) for x in args.extra_workers.split(",") if x.strip()]
    EXTRA_MAX, PER_NAMESPACE, CHANGED = args.extra_max, args.per_namespace, args.changed


def main(argv: list[str] | None = None) -> None:
    configure(parse_args(argv))
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
