"""Resource types the fake API server serves: the built-ins Aegis meets, plus CRD-defined ones."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass
class ResourceType:
    group: str
    versions: list[str]
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    custom: bool = False  # defined by a CRD: list items carry apiVersion/kind, like unstructured lists
    established_at: float = 0.0
    crd_name: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def preferred_version(self) -> str:
        return sorted(self.versions, key=version_priority)[0]

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version ordering: GA > beta > alpha, higher numbers first (sort ascending = best first)."""
    import re

    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major = int(match.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor)


def builtin_types() -> list[ResourceType]:
    core = [
        ResourceType(
            "",
            ["v1"],
            "namespaces",
            "Namespace",
            False,
            short_names=("ns",),
            subresources=("status", "finalize"),
        ),
        ResourceType("", ["v1"], "configmaps", "ConfigMap", True, short_names=("cm",)),
        ResourceType("", ["v1"], "secrets", "Secret", True),
        ResourceType(
            "", ["v1"], "services", "Service", True, short_names=("svc",), subresources=("status", "proxy")
        ),
        ResourceType(
            "",
            ["v1"],
            "serviceaccounts",
            "ServiceAccount",
            True,
            short_names=("sa",),
            subresources=("token",),
        ),
        ResourceType(
            "", ["v1"], "pods", "Pod", True, short_names=("po",), subresources=("log", "status", "exec")
        ),
        ResourceType(
            "", ["v1"], "persistentvolumeclaims", "PersistentVolumeClaim", True, short_names=("pvc",)
        ),
        ResourceType("", ["v1"], "persistentvolumes", "PersistentVolume", False, short_names=("pv",)),
        ResourceType("", ["v1"], "endpoints", "Endpoints", True, short_names=("ep",)),
        ResourceType("", ["v1"], "events", "Event", True, short_names=("ev",)),
        ResourceType("", ["v1"], "limitranges", "LimitRange", True, short_names=("limits",)),
        ResourceType("", ["v1"], "bindings", "Binding", True, verbs=("create",)),
    ]
    apps = [
        ResourceType(
            "apps",
            ["v1"],
            "deployments",
            "Deployment",
            True,
            short_names=("deploy",),
            subresources=("scale", "status"),
        ),
        ResourceType(
            "apps",
            ["v1"],
            "replicasets",
            "ReplicaSet",
            True,
            short_names=("rs",),
            subresources=("scale", "status"),
        ),
        ResourceType("apps", ["v1"], "statefulsets", "StatefulSet", True, short_names=("sts",)),
        ResourceType("apps", ["v1"], "daemonsets", "DaemonSet", True, short_names=("ds",)),
    ]
    others = [
        ResourceType("storage.k8s.io", ["v1"], "storageclasses", "StorageClass", False, short_names=("sc",)),
        ResourceType("rbac.authorization.k8s.io", ["v1"], "roles", "Role", True),
        ResourceType("rbac.authorization.k8s.io", ["v1"], "rolebindings", "RoleBinding", True),
        ResourceType("rbac.authorization.k8s.io", ["v1"], "clusterroles", "ClusterRole", False),
        ResourceType("rbac.authorization.k8s.io", ["v1"], "clusterrolebindings", "ClusterRoleBinding", False),
        ResourceType("discovery.k8s.io", ["v1"], "endpointslices", "EndpointSlice", True),
        ResourceType(
            "autoscaling",
            ["v2", "v1"],
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            True,
            short_names=("hpa",),
        ),
        ResourceType(
            "apiextensions.k8s.io",
            ["v1"],
            "customresourcedefinitions",
            "CustomResourceDefinition",
            False,
            short_names=("crd", "crds"),
            subresources=("status",),
        ),
        ResourceType(
            "authorization.k8s.io",
            ["v1"],
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            False,
            verbs=("create",),
        ),
    ]
    return core + apps + others
