"""What a backup covers: the plain-dataclass spec that run_backup() takes and metadata.json records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from aegis.kube.selectors import LabelSelector, SelectorError

EXCLUDE_LABEL = "aegis.oco/exclude-from-backup"


class ClusterResources(StrEnum):
    """``auto``: namespaces of the selected namespaces + what their objects need (CRDs of backed-up
    custom resources, PVs bound to backed-up PVCs) + cluster-scoped resources named explicitly in
    ``included_resources``; ``true``: every cluster-scoped resource too; ``false``: no cluster-scoped
    objects except the selected namespaces themselves (as Velero does)."""

    AUTO = "auto"
    TRUE = "true"
    FALSE = "false"

    @classmethod
    def parse(cls, value: object) -> ClusterResources:
        if value is None:
            return cls.AUTO
        if isinstance(value, bool):
            return cls.TRUE if value else cls.FALSE
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError("include_cluster_resources must be 'auto', 'true' or 'false'") from None


@dataclass
class BackupSpec:
    """Selection of a backup. Wildcards (``*``, ``?``) work in namespace lists; resource lists take
    ``configmaps``, ``deployments.apps``, kinds (``Deployment``), short names or ``*.example.com``."""

    name: str = ""  # the backup's id/name: recorded in metadata.json and in restored objects' labels
    cluster: str = ""
    included_namespaces: list[str] = field(default_factory=lambda: ["*"])
    excluded_namespaces: list[str] = field(default_factory=list)
    included_resources: list[str] = field(default_factory=lambda: ["*"])
    excluded_resources: list[str] = field(default_factory=list)
    label_selector: str | None = None
    include_cluster_resources: ClusterResources = ClusterResources.AUTO
    storage_location: str = ""
    ttl_hours: int | None = None
    page_size: int = 500

    def __post_init__(self) -> None:
        self.include_cluster_resources = ClusterResources.parse(self.include_cluster_resources)
        self.included_namespaces = list(self.included_namespaces or ["*"])
        self.included_resources = list(self.included_resources or ["*"])
        self.excluded_namespaces = list(self.excluded_namespaces or [])
        self.excluded_resources = list(self.excluded_resources or [])

    def validate(self) -> None:
        """Raise ValueError with a message fit for a 422 when the spec cannot run."""
        try:
            LabelSelector.parse(self.label_selector)
        except SelectorError as exc:
            raise ValueError(str(exc)) from None
        if not 1 <= self.page_size <= 10_000:
            raise ValueError("page_size must be between 1 and 10000")
        if self.ttl_hours is not None and self.ttl_hours < 0:
            raise ValueError("ttl_hours must not be negative")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["include_cluster_resources"] = str(self.include_cluster_resources)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackupSpec:
        """Build from a request/DB dict, ignoring keys that are not spec fields."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
