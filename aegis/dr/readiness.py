"""Waiting for a set of namespaces to be ready on a cluster: every Deployment, StatefulSet and DaemonSet
reports its replicas available, within a timeout; a timeout names the check and the objects not ready."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable

from aegis.dr.steps import StepFailed
from aegis.kube.clusters import ClusterConfigError, ClusterRegistry
from aegis.kube.transport import KubeAPIError, RetryPolicy
from aegis.kube.workloads import Workload, list_workloads

#: seconds between two looks at the workloads
POLL_S = 0.5
#: at most this many objects are named in a failed check
NAMED_MAX = 50

CHECK = "workloads_available"


async def workloads(
    registry: ClusterRegistry, cluster: str, namespaces: Iterable[str], retry: RetryPolicy | None = None
) -> list[Workload]:
    """The workloads of ``namespaces`` on ``cluster`` now (read only). Raises KubeAPIError or
    ClusterConfigError."""

    def look() -> list[Workload]:
        with registry.connect(cluster) as connection:
            return list_workloads(connection.transport(retry, timeout=(5.0, 30.0)), list(namespaces))

    return await asyncio.to_thread(look)


async def wait_until_ready(
    registry: ClusterRegistry,
    cluster: str,
    namespaces: list[str],
    timeout_s: float,
    *,
    cancel: threading.Event | None = None,
    retry: RetryPolicy | None = None,
    poll_s: float = POLL_S,
) -> list[Workload]:
    """The workloads once all are ready; StepFailed ``workloads_available`` after ``timeout_s`` naming
    those that are not (or the last error when the cluster did not answer)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = await workloads(registry, cluster, namespaces, retry)
            pending = [w for w in found if not w.ready]
            error = None
        except (KubeAPIError, ClusterConfigError) as exc:
            found, pending, error = [], [], str(exc)
        if error is None and not pending:
            return found
        if time.monotonic() >= deadline:
            if error is not None:
                raise StepFailed(
                    CHECK, f"timed out after {timeout_s:g}s: cluster {cluster!r} did not answer: {error}"
                )
            named = [w.describe() for w in pending[:NAMED_MAX]]
            more = f" and {len(pending) - NAMED_MAX} more" if len(pending) > NAMED_MAX else ""
            raise StepFailed(
                CHECK,
                f"timed out after {timeout_s:g}s waiting for workloads to report their replicas available"
                f" (status is written by the cluster's controllers): {len(pending)} not ready: "
                + ", ".join(named)
                + more,
                objects=[w.ref for w in pending],
            )
        if cancel is not None and cancel.is_set():
            raise StepFailed("interrupted", "interrupted while waiting for workloads")
        await asyncio.sleep(min(poll_s, max(0.0, deadline - time.monotonic())) or 0.01)
