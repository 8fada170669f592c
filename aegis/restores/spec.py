"""What a restore applies and how: the plain-dataclass spec that run_restore() takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aegis.kube.applier import ExistingResourcePolicy
from aegis.kube.selectors import LabelSelector, SelectorError
from aegis.restores.modifiers import Modifiers, compile_modifiers


@dataclass
class RestoreSpec:
    """Filters apply to the objects as backed up (source namespaces); ``namespace_mapping`` then
    renames namespaces (``{"a": "a-copy"}``). ``existing_resource_policy`` decides what happens when
    an object already exists: ``skip`` leaves it, ``update`` replaces it with the backed-up version.
    ``resource_modifiers`` and ``storage_class_mapping`` transform objects before they are applied (see
    aegis.restores.modifiers)."""

    name: str = ""  # the restore's id/name: the value of the aegis.oco/restore label
    backup_name: str = ""  # the value of the aegis.oco/backup label (defaults to metadata.json's name)
    included_namespaces: list[str] = field(default_factory=lambda: ["*"])
    excluded_namespaces: list[str] = field(default_factory=list)
    included_resources: list[str] = field(default_factory=lambda: ["*"])
    excluded_resources: list[str] = field(default_factory=list)
    namespace_mapping: dict[str, str] = field(default_factory=dict)
    label_selector: str | None = None
    existing_resource_policy: ExistingResourcePolicy = ExistingResourcePolicy.SKIP
    resource_modifiers: list[dict[str, Any]] = field(default_factory=list)
    storage_class_mapping: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    parallelism: int = 8  # concurrent API requests within one tier
    crd_establish_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        self.existing_resource_policy = ExistingResourcePolicy(self.existing_resource_policy)
        self.included_namespaces = list(self.included_namespaces or ["*"])
        self.included_resources = list(self.included_resources or ["*"])
        self.excluded_namespaces = list(self.excluded_namespaces or [])
        self.excluded_resources = list(self.excluded_resources or [])
        self.namespace_mapping = dict(self.namespace_mapping or {})
        self.resource_modifiers = list(self.resource_modifiers or [])
        self.storage_class_mapping = dict(self.storage_class_mapping or {})

    def validate(self) -> None:
        """Raise ValueError with a message fit for a 422 when the spec cannot run (a ModifierError, which
        names the rule and field, for a bad modifier)."""
        try:
            LabelSelector.parse(self.label_selector)
        except SelectorError as exc:
            raise ValueError(str(exc)) from None
        if not 1 <= self.parallelism <= 64:  # 64 = the connection pool of aegis.kube.clusters clients
            raise ValueError("parallelism must be between 1 and 64")
        targets = list(self.namespace_mapping.values())
        if len(set(targets)) != len(targets):
            raise ValueError("namespace_mapping maps two namespaces onto one")
        if any(not k or not v for k, v in self.namespace_mapping.items()):
            raise ValueError("namespace_mapping entries must be non-empty")
        self.modifiers()

    def modifiers(self) -> Modifiers:
        """The compiled resource modifiers and storage class mapping; raises ModifierError."""
        return compile_modifiers(self.resource_modifiers, self.storage_class_mapping)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["existing_resource_policy"] = str(self.existing_resource_policy)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestoreSpec:
        """Build from a request/DB dict, ignoring keys that are not spec fields."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
