"""Which namespaces, resources and objects a backup spec selects (pure logic, no I/O).

Namespace objects of the selected namespaces are always included (unless ``namespaces`` is an
excluded resource), whatever ``include_cluster_resources`` says, because a restore needs them.
Objects labelled ``aegis.oco/exclude-from-backup=true`` are never selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aegis.backups.spec import EXCLUDE_LABEL, BackupSpec, ClusterResources
from aegis.kube.discovery import APIResource
from aegis.kube.selectors import LabelSelector, namespace_selected, resource_matches, resource_selected

NAMESPACES = ("namespaces", "")
CRDS = ("customresourcedefinitions", "apiextensions.k8s.io")
PERSISTENT_VOLUMES = ("persistentvolumes", "")
PVCS = ("persistentvolumeclaims", "")


class BackupSelector:
    """Answers selection questions for one spec; build once per backup."""

    def __init__(self, spec: BackupSpec) -> None:
        self.spec = spec
        self.mode = ClusterResources.parse(spec.include_cluster_resources)
        self.label_selector = LabelSelector.parse(spec.label_selector)
        self._exclude = LabelSelector.parse(f"{EXCLUDE_LABEL}!=true")

    # -- namespaces -------------------------------------------------------------------------
    @property
    def selects_all_namespaces(self) -> bool:
        """True when a namespaced resource is best listed across all namespaces and filtered here."""
        return "*" in self.spec.included_namespaces

    def namespace_selected(self, namespace: str) -> bool:
        return namespace_selected(namespace, self.spec.included_namespaces, self.spec.excluded_namespaces)

    # -- resources --------------------------------------------------------------------------
    @staticmethod
    def backupable(resource: APIResource) -> bool:
        return resource.preferred and resource.supports("list", "get")

    def resource_included(self, resource: APIResource) -> bool:
        """Passes both the include and the exclude lists."""
        return resource_selected(resource.names, self.spec.included_resources, self.spec.excluded_resources)

    def resource_not_excluded(self, resource: APIResource) -> bool:
        """Passes the exclude list (used for what ``auto`` adds on the namespaced objects' behalf)."""
        return not any(resource_matches(resource.names, p) for p in self.spec.excluded_resources)

    def namespaced_resources(self, resources: Iterable[APIResource]) -> list[APIResource]:
        return [r for r in resources if r.namespaced and self.backupable(r) and self.resource_included(r)]

    @property
    def whole_cluster(self) -> bool:
        """Every namespace and no namespace excluded (Velero's "include everything")."""
        return "*" in self.spec.included_namespaces and not self.spec.excluded_namespaces

    def cluster_resources(self, resources: Iterable[APIResource]) -> list[APIResource]:
        """Cluster-scoped resources listed in full, never ``namespaces`` (limited to the selected
        namespaces and handled on their own): every included one in ``true`` mode, and in ``auto`` mode
        for a backup of the whole cluster (as Velero does: cluster roles, storage classes, ...);
        otherwise ``auto`` takes only those named explicitly (no wildcard) in ``included_resources``;
        none in ``false`` mode."""
        if self.mode is ClusterResources.FALSE:
            return []
        candidates = [
            r
            for r in resources
            if not r.namespaced
            and self.backupable(r)
            and (r.resource, r.group) != NAMESPACES
            and self.resource_included(r)
        ]
        if self.mode is ClusterResources.TRUE or self.whole_cluster:
            return candidates
        named = [p for p in self.spec.included_resources if not any(c in p for c in "*?[")]
        return [r for r in candidates if any(resource_matches(r.names, p) for p in named)]

    def includes_namespace_objects(self, namespaces_resource: APIResource | None) -> bool:
        return namespaces_resource is not None and self.resource_not_excluded(namespaces_resource)

    def adds_needed_cluster_objects(self) -> bool:
        """``auto``: add CRDs of backed-up custom resources and PVs of backed-up PVCs."""
        return self.mode is ClusterResources.AUTO

    # -- objects ----------------------------------------------------------------------------
    @property
    def server_label_selector(self) -> str:
        """Sent as ``labelSelector`` so the server filters too; objects are re-checked here."""
        return str(self.label_selector.and_(self._exclude))

    def excluded_by_label(self, obj: Mapping[str, Any]) -> bool:
        return not self._exclude.matches(_labels(obj))

    def object_selected(self, obj: Mapping[str, Any], *, use_label_selector: bool = True) -> bool:
        labels = _labels(obj)
        if not self._exclude.matches(labels):
            return False
        return not use_label_selector or self.label_selector.matches(labels)


def crd_name(resource: str, group: str) -> str:
    """A CRD is named ``<plural>.<group>``."""
    return f"{resource}.{group}"


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}
