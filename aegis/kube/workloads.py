"""Workloads of a set of namespaces on one cluster (Deployments, StatefulSets, DaemonSets): whether each
reports its replicas available, reading and setting replica counts, and deleting namespaces.

Synchronous, over a :class:`KubeTransport` (call from a worker thread). Readiness follows what the
controllers write into ``status``: an API server without controllers never reports them available.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from aegis.kube.transport import KubeAPIError, KubeTransport, resource_path

#: (group, plural) of the workload kinds readiness looks at, and whether their spec has replicas.
WORKLOAD_KINDS: tuple[tuple[str, str, bool], ...] = (
    ("apps", "deployments", True),
    ("apps", "statefulsets", True),
    ("apps", "daemonsets", False),
)
#: how often a replace that lost a resourceVersion race is tried again
SCALE_ATTEMPTS = 5


@dataclass(frozen=True)
class Workload:
    """One workload and what its status says: ``desired`` replicas, ``available`` ones."""

    resource: str  # "deployments.apps"
    namespace: str
    name: str
    desired: int
    available: int
    ready: bool
    scalable: bool

    @property
    def ref(self) -> str:
        return f"{self.resource} {self.namespace}/{self.name}"

    def describe(self) -> str:
        return f"{self.ref} ({self.available}/{self.desired} available)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def assess(group: str, plural: str, obj: dict[str, Any]) -> Workload:
    """A workload from its object: Deployments and StatefulSets are ready when ``status.availableReplicas``
    reaches ``spec.replicas`` (default 1); DaemonSets when ``status.numberAvailable`` reaches
    ``status.desiredNumberScheduled`` once a controller has observed them."""
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    scalable = plural != "daemonsets"
    if scalable:
        desired = _int(spec.get("replicas", 1))
        available = _int(status.get("availableReplicas"))
        ready = available >= desired
    else:
        desired = _int(status.get("desiredNumberScheduled"))
        available = _int(status.get("numberAvailable"))
        ready = "observedGeneration" in status and available >= desired
    return Workload(
        resource=f"{plural}.{group}",
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        desired=desired,
        available=available,
        ready=ready,
        scalable=scalable,
    )


def list_workloads(transport: KubeTransport, namespaces: Iterable[str]) -> list[Workload]:
    """Every Deployment, StatefulSet and DaemonSet of ``namespaces`` (a missing namespace has none)."""
    found: list[Workload] = []
    for namespace in namespaces:
        for group, plural, _ in WORKLOAD_KINDS:
            try:
                listing = transport.get_json(resource_path(group, "v1", plural, namespace))
            except KubeAPIError as exc:
                if exc.status == 404:
                    continue
                raise
            for item in listing.get("items") or []:
                item.setdefault("metadata", {}).setdefault("namespace", namespace)
                found.append(assess(group, plural, item))
    return found


def set_replicas(transport: KubeTransport, resource: str, namespace: str, name: str, replicas: int) -> int:
    """Set ``spec.replicas`` of a Deployment/StatefulSet (read, then replace with its resourceVersion,
    again on a conflict); returns the count it had. Raises KubeAPIError."""
    plural, _, group = resource.partition(".")
    path = resource_path(group, "v1", plural, namespace, name)
    for attempt in range(SCALE_ATTEMPTS):
        current = transport.get_json(path)
        previous = _int((current.get("spec") or {}).get("replicas", 1))
        current.setdefault("spec", {})["replicas"] = replicas
        response = transport.request("PUT", path, body=current)
        if response.ok:
            return previous
        if response.status != 409 or attempt + 1 == SCALE_ATTEMPTS:
            raise KubeAPIError.from_response(response)
    raise AssertionError("unreachable")


def delete_namespace(transport: KubeTransport, name: str) -> bool:
    """Delete a namespace and, with it, everything in it; False when it did not exist."""
    response = transport.request("DELETE", resource_path("", "v1", "namespaces", None, name))
    if response.status == 404:
        return False
    if not response.ok:
        raise KubeAPIError.from_response(response)
    return True
