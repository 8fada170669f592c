"""Restore planning, pure logic: filters, skips, modifiers, stripping, namespace mapping, labels and tier order.

Tiers follow Velero's priorities: CRDs, namespaces, storage classes, PVs, PVCs, secrets, config maps,
service accounts, limit ranges, then everything else, and admission webhooks/policies last. Objects that a controller recreates (pods of
a ReplicaSet, ReplicaSets of a Deployment, ...), Endpoints, EndpointSlices and events are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aegis.archive.layout import ArchiveEntry
from aegis.kube.selectors import LabelSelector, ResourceNames, namespace_selected, resource_selected
from aegis.kube.shortnames import short_names_of
from aegis.kube.transport import ResourceRef, split_api_version
from aegis.restores.spec import RestoreSpec

BACKUP_LABEL = "aegis.oco/backup"
RESTORE_LABEL = "aegis.oco/restore"

#: (resource, group) per tier, in apply order; everything else goes to the last tier.
TIER_RESOURCES: tuple[tuple[str, str], ...] = (
    ("customresourcedefinitions", "apiextensions.k8s.io"),
    ("namespaces", ""),
    ("storageclasses", "storage.k8s.io"),
    ("persistentvolumes", ""),
    ("persistentvolumeclaims", ""),
    ("secrets", ""),
    ("configmaps", ""),
    ("serviceaccounts", ""),
    ("limitranges", ""),
)
#: Applied after everything else: an admission webhook or policy restored early would judge (and, failing
#: closed while its backend is not back, refuse) the restore's own objects.
ADMISSION_RESOURCES: frozenset[tuple[str, str]] = frozenset(
    {
        ("mutatingwebhookconfigurations", "admissionregistration.k8s.io"),
        ("validatingwebhookconfigurations", "admissionregistration.k8s.io"),
        ("validatingadmissionpolicies", "admissionregistration.k8s.io"),
        ("validatingadmissionpolicybindings", "admissionregistration.k8s.io"),
    }
)
TIER_NAMES: tuple[str, ...] = tuple(r if not g else f"{r}.{g}" for r, g in TIER_RESOURCES) + (
    "others",
    "admission",
)
CRD_TIER = 0
NAMESPACE_TIER = 1
LAST_TIER = len(TIER_RESOURCES)  # everything not named: workloads, services, RBAC, custom resources, ...
ADMISSION_TIER = LAST_TIER + 1
_TIER_INDEX = {key: i for i, key in enumerate(TIER_RESOURCES)} | dict.fromkeys(
    ADMISSION_RESOURCES, ADMISSION_TIER
)

#: Never restored: the cluster (or a controller) owns them.
NOT_RESTORABLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("events", ""),
        ("events", "events.k8s.io"),
        ("endpoints", ""),
        ("endpointslices", "discovery.k8s.io"),
        ("nodes", ""),
        ("componentstatuses", ""),
        ("csinodes", "storage.k8s.io"),
        ("volumeattachments", "storage.k8s.io"),
    }
)

#: (resource, group) -> controller kinds whose children are recreated by the controller.
CONTROLLER_OWNED: dict[tuple[str, str], frozenset[str]] = {
    ("pods", ""): frozenset({"ReplicaSet", "StatefulSet", "DaemonSet", "Job"}),
    ("replicasets", "apps"): frozenset({"Deployment"}),
    ("jobs", "batch"): frozenset({"CronJob"}),
    ("controllerrevisions", "apps"): frozenset({"StatefulSet", "DaemonSet"}),
}

_METADATA_STRIP = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "generation",
    "generateName",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)
_PVC_ANNOTATIONS_STRIP = ("pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller")
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9_.-]")


class SkipReason(StrEnum):
    EXCLUDED = "excluded"  # filtered out by the restore spec
    CONTROLLER_OWNED = "controller-owned"
    NOT_RESTORABLE = "not-restorable"


@dataclass(frozen=True)
class SkippedItem:
    reason: SkipReason
    message: str


@dataclass
class PlannedItem:
    """One object to apply, already modified, stripped, mapped and labelled."""

    ref: ResourceRef
    namespace: str | None  # target namespace (after mapping); None when cluster-scoped
    name: str
    tier: int
    body: dict[str, Any]
    modified_by: list[str] = field(default_factory=list)  # the modifiers that changed it, in order

    @property
    def item(self) -> str:
        """``deployments.apps/ns/name`` or ``namespaces/name`` for results and errors."""
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.ref.qualified_name}/{scope}{self.name}"


@dataclass(frozen=True)
class RejectedItem:
    """An object a modifier rule matched but could not patch: it fails to restore, naming the rule."""

    resource: str  # "deployments.apps"
    namespace: str | None  # target namespace (after mapping)
    name: str
    rule: str  # "resource_modifiers[1]"
    reason: str
    modified_by: list[str] = field(default_factory=list)  # the modifiers that applied before it

    @property
    def message(self) -> str:
        return f"{self.rule} does not apply: {self.reason}; the object was not restored"


def restore_tier(resource: str, group: str) -> int:
    return _TIER_INDEX.get((resource, group), LAST_TIER)


def label_value(text: str) -> str:
    """A valid label value (<= 63 chars of ``[A-Za-z0-9_.-]``, alphanumeric at both ends)."""
    value = _LABEL_VALUE_BAD.sub("-", text)[:63]
    return value.strip("-_.")


def controller_owner(resource: str, group: str, obj: dict[str, Any]) -> str | None:
    """``Kind/name`` of the controller that will recreate this object, or None."""
    kinds = CONTROLLER_OWNED.get((resource, group))
    if not kinds:
        return None
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") in kinds:
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None


def strip_cluster_fields(resource: str, group: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Remove what the cluster owns (modifies and returns ``obj``)."""
    metadata = obj.setdefault("metadata", {})
    for key in _METADATA_STRIP:
        metadata.pop(key, None)
    obj.pop("status", None)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj
    if (resource, group) == ("services", ""):
        if spec.get("clusterIP") != "None":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        # node ports are allocated by the cluster: keeping them clashes with the original Service when
        # restoring into a mapped namespace of the same cluster (Velero drops them too)
        spec.pop("healthCheckNodePort", None)
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.pop("nodePort", None)
    elif (resource, group) == ("jobs", "batch"):
        _drop_job_controller_uid(spec)
    elif (resource, group) == ("pods", ""):
        spec.pop("nodeName", None)
        _drop_token_volumes(spec)
    elif (resource, group) == ("persistentvolumeclaims", ""):
        annotations = metadata.get("annotations") or {}
        for key in _PVC_ANNOTATIONS_STRIP:
            annotations.pop(key, None)
    elif (resource, group) == ("persistentvolumes", ""):
        claim = spec.get("claimRef")
        if isinstance(claim, dict):
            claim.pop("uid", None)
            claim.pop("resourceVersion", None)
    return obj


_JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _drop_job_controller_uid(spec: dict[str, Any]) -> None:
    """A Job's generated selector and template labels name the old Job's uid; the API server refuses
    them for the new Job. Unless the selector was set by hand, drop them and let the server regenerate."""
    if spec.get("manualSelector"):
        return
    selector = spec.get("selector")
    if isinstance(selector, dict):
        labels = selector.get("matchLabels") or {}
        for key in _JOB_UID_LABELS:
            labels.pop(key, None)
        if not labels and not selector.get("matchExpressions"):
            spec.pop("selector", None)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if isinstance(template_labels, dict):
        for key in (*_JOB_UID_LABELS, "job-name", "batch.kubernetes.io/job-name"):
            template_labels.pop(key, None)


def _drop_token_volumes(spec: dict[str, Any]) -> None:
    """Projected service-account token volumes are re-added by admission; a stale one would clash."""
    service_account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    dropped = {
        v.get("name")
        for v in spec.get("volumes") or []
        if str(v.get("name", "")).startswith(("kube-api-access-", f"{service_account}-token-"))
    }
    if not dropped:
        return
    spec["volumes"] = [v for v in spec.get("volumes") or [] if v.get("name") not in dropped]
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            mounts = container.get("volumeMounts")
            if mounts:
                container["volumeMounts"] = [m for m in mounts if m.get("name") not in dropped]


class RestorePlanner:
    """Turns archive objects into :class:`PlannedItem` or :class:`SkippedItem` for one restore spec."""

    def __init__(self, spec: RestoreSpec, backup_name: str = "") -> None:
        self.spec = spec
        self.mapping = dict(spec.namespace_mapping)
        self.selector = LabelSelector.parse(spec.label_selector)
        self.modifiers = spec.modifiers()
        self.labels = {
            BACKUP_LABEL: label_value(spec.backup_name or backup_name),
            RESTORE_LABEL: label_value(spec.name),
        }

    def target_namespace(self, namespace: str) -> str:
        return self.mapping.get(namespace, namespace)

    def plan(self, entry: ArchiveEntry, obj: dict[str, Any]) -> PlannedItem | SkippedItem | RejectedItem:
        key = (entry.resource, entry.group)
        names = self._names(entry, obj)
        if not self._selected(entry, names, obj):
            return SkippedItem(SkipReason.EXCLUDED, "excluded by the restore's filters")
        if key in NOT_RESTORABLE:
            return SkippedItem(SkipReason.NOT_RESTORABLE, f"{entry.qualified_resource} are never restored")
        owner = controller_owner(entry.resource, entry.group, obj)
        if owner:
            return SkippedItem(SkipReason.CONTROLLER_OWNED, f"owned by {owner}, which recreates it")
        modified_by: list[str] = []
        if self.modifiers:
            result = self.modifiers.apply(names, entry.namespace, entry.name, obj)
            if result.failed_rule:
                return self._rejected(entry, result.failed_rule, result.reason, result.applied)
            obj, modified_by = result.obj, result.applied

        group, version = split_api_version(str(obj.get("apiVersion") or ""))
        if group != entry.group or not version:
            group, version = entry.group, version or "v1"
        strip_cluster_fields(entry.resource, entry.group, obj)
        metadata = obj["metadata"]
        name = entry.name
        namespace: str | None = None
        if entry.namespace is not None:
            namespace = self.target_namespace(entry.namespace)
            metadata["namespace"] = namespace
        elif key == ("namespaces", ""):
            name = self.target_namespace(entry.name)
        metadata["name"] = name
        self._map_references(entry, obj)
        labels = metadata.get("labels") or {}
        labels.update({k: v for k, v in self.labels.items() if v})
        metadata["labels"] = labels
        ref = ResourceRef(group, version, entry.resource, namespaced=entry.namespace is not None)
        return PlannedItem(
            ref=ref,
            namespace=namespace,
            name=name,
            tier=restore_tier(*key),
            body=obj,
            modified_by=modified_by,
        )

    def _rejected(self, entry: ArchiveEntry, rule: str, reason: str, applied: list[str]) -> RejectedItem:
        namespace = self.target_namespace(entry.namespace) if entry.namespace is not None else None
        name = self.target_namespace(entry.name) if entry.qualified_resource == "namespaces" else entry.name
        return RejectedItem(entry.qualified_resource, namespace, name, rule, reason, applied)

    @staticmethod
    def _names(entry: ArchiveEntry, obj: dict[str, Any]) -> ResourceNames:
        kind = str(obj.get("kind") or "")
        return ResourceNames(
            entry.resource, entry.group, kind=kind, short_names=short_names_of(entry.resource, entry.group)
        )

    def _selected(self, entry: ArchiveEntry, names: ResourceNames, obj: dict[str, Any]) -> bool:
        spec = self.spec
        if not resource_selected(names, spec.included_resources, spec.excluded_resources):
            return False
        namespace = entry.namespace
        if namespace is None and (entry.resource, entry.group) == ("namespaces", ""):
            namespace = entry.name
        if namespace is not None and not namespace_selected(
            namespace, spec.included_namespaces, spec.excluded_namespaces
        ):
            return False
        return self.selector.matches((obj.get("metadata") or {}).get("labels"))

    def _map_references(self, entry: ArchiveEntry, obj: dict[str, Any]) -> None:
        """Follow namespace mapping into the references that name a namespace."""
        if not self.mapping:
            return
        key = (entry.resource, entry.group)
        if key in (
            ("rolebindings", "rbac.authorization.k8s.io"),
            ("clusterrolebindings", "rbac.authorization.k8s.io"),
        ):
            for subject in obj.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount" and subject.get("namespace") in self.mapping:
                    subject["namespace"] = self.mapping[subject["namespace"]]
        elif key == ("persistentvolumes", ""):
            claim = (obj.get("spec") or {}).get("claimRef")
            if isinstance(claim, dict) and claim.get("namespace") in self.mapping:
                claim["namespace"] = self.mapping[claim["namespace"]]
