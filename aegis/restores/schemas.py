"""Request and response models of /api/v1/restores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aegis.backups.naming import NAME_MAX, NAME_PATTERN
from aegis.backups.phase import Phase, progress_percent
from aegis.kube.selectors import LabelSelector, SelectorError
from aegis.restores import modifiers
from oco.pagination import Page
from oco.params import RowIdField
from oco.timeutil import as_utc

Outcome = Literal["created", "updated", "unchanged", "skipped", "failed"]


class ResourceModifierRule(BaseModel):
    """Patch every restored object that matches all the conditions given (a condition left out matches
    anything): `resources` as in included_resources (`deployments.apps`, `apps/deployments`, `deploy`,
    `*`), `namespaces` and `names` glob patterns (`shop-*`; the namespace as backed up; with `namespaces`
    only namespaced objects match), `name_regex` a regular expression searched in the name (anchor it with
    ^...$), `label_selector` on the labels as backed up. Then exactly one action: `json_patch`, RFC 6902
    operations, or `merge_patch`, an RFC 7386 merge patch (null deletes a member)."""

    model_config = ConfigDict(extra="forbid")

    resources: list[str] | None = Field(default=None, max_length=modifiers.MAX_PATTERNS)
    namespaces: list[str] | None = Field(default=None, max_length=modifiers.MAX_PATTERNS)
    names: list[str] | None = Field(default=None, max_length=modifiers.MAX_PATTERNS)
    name_regex: str | None = Field(default=None, max_length=modifiers.MAX_REGEX)
    label_selector: str | None = Field(default=None, max_length=2000)
    json_patch: list[dict[str, Any]] | None = Field(default=None, max_length=modifiers.MAX_OPERATIONS)
    merge_patch: dict[str, Any] | None = None

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else modifiers.check_resources(value)

    @field_validator("namespaces", "names")
    @classmethod
    def _globs(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else modifiers.check_globs(value, "pattern")

    @field_validator("name_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            modifiers.check_regex(value)
        return value

    @field_validator("label_selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is not None:
            modifiers.check_selector(value)
        return value

    @field_validator("json_patch")
    @classmethod
    def _json_patch(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return None if value is None else modifiers.check_json_patch(value)

    @field_validator("merge_patch")
    @classmethod
    def _merge_patch(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else modifiers.check_merge_patch(value)

    @model_validator(mode="after")
    def _one_action(self) -> ResourceModifierRule:
        if (self.json_patch is None) == (self.merge_patch is None):
            raise ValueError("give exactly one of json_patch or merge_patch")
        return self


class RestoreCreate(BaseModel):
    """Restore a backup, into its own cluster or another (`cluster`). Filters apply to the objects as
    backed up (source namespaces); `namespace_mapping` then renames namespaces. `existing_resource_policy`:
    `skip` leaves an existing object alone, `update` replaces it with the backed-up version when they
    differ and reports it `unchanged` (no write) when the live object already is that version.
    `storage_class_mapping` (`{"old": "new"}`) rewrites the storage class of PVCs, PVs and StatefulSet
    volume claim templates; then each `resource_modifiers` rule patches the objects it matches, in order.
    A rule whose patch does not apply to an object it matched fails that object (reported per item,
    naming the rule). A dry run reports what would happen and changes nothing."""

    model_config = ConfigDict(extra="forbid")

    backup_id: RowIdField
    cluster: str | None = Field(default=None, min_length=1, max_length=200)
    name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=NAME_MAX)
    namespace_mapping: dict[str, str] = Field(default_factory=dict, max_length=1000)
    existing_resource_policy: Literal["skip", "update"] = "skip"
    dry_run: bool = False
    included_namespaces: list[str] = Field(default_factory=lambda: ["*"], max_length=500)
    excluded_namespaces: list[str] = Field(default_factory=list, max_length=500)
    included_resources: list[str] = Field(default_factory=lambda: ["*"], max_length=500)
    excluded_resources: list[str] = Field(default_factory=list, max_length=500)
    label_selector: str | None = Field(default=None, max_length=2000)
    resource_modifiers: list[ResourceModifierRule] = Field(
        default_factory=list, max_length=modifiers.MAX_RULES
    )
    storage_class_mapping: dict[str, str] = Field(default_factory=dict, max_length=1000)

    @field_validator("storage_class_mapping")
    @classmethod
    def _classes(cls, value: dict[str, str]) -> dict[str, str]:
        return modifiers.check_storage_class_mapping(value)

    @field_validator("label_selector")
    @classmethod
    def _selector_parses(cls, value: str | None) -> str | None:
        try:
            LabelSelector.parse(value)
        except SelectorError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("namespace_mapping")
    @classmethod
    def _mapping_is_one_to_one(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not k or not v for k, v in value.items()):
            raise ValueError("namespace names must not be empty")
        if len(set(value.values())) != len(value):
            raise ValueError("two namespaces are mapped onto one")
        return value


class ModifierFailure(BaseModel):
    rule: str  # "resource_modifiers[1]"
    reason: str


class RestoreItem(BaseModel):
    """One object: `modified_by` names the modifiers that changed it, in order; `modifier_error` the one
    whose patch did not apply (the object then failed and was not restored)."""

    resource: str  # "deployments.apps"
    namespace: str | None  # the target namespace
    name: str
    outcome: Outcome
    message: str
    modified_by: list[str] = []
    modifier_error: ModifierFailure | None = None


class ModifierReport(BaseModel):
    """What one rule (or the storage class mapping) did: objects it matched, of which it changed
    `applied` and failed `failed`; a rule with `matched` 0 also gets a warning."""

    rule: str
    matched: int
    applied: int
    failed: int


class RestoreResults(BaseModel):
    """Counts per outcome and (on GET /restores/{id}, or with include_items) the per-item list;
    `items_matching`: how many items the request's outcome filter selects, before items_offset/items_limit."""

    created: int
    updated: int
    unchanged: int
    skipped: int
    failed: int
    items: list[RestoreItem]
    items_matching: int = 0
    modifiers: list[ModifierReport] = []


@dataclass(frozen=True)
class ItemWindow:
    """Which per-item results a GET returns: one outcome or all, then a slice (limit None: to the end)."""

    outcome: str | None = None
    offset: int = 0
    limit: int | None = None

    def select(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        matching = [i for i in items if self.outcome is None or i.get("outcome") == self.outcome]
        end = None if self.limit is None else self.offset + self.limit
        return matching[self.offset : end], len(matching)


class Restore(BaseModel):
    """A restore record: phase, progress and what happened to each object."""

    id: int
    name: str
    backup_id: int
    cluster: str
    phase: Phase
    dry_run: bool
    spec: dict[str, Any]
    items_total: int
    items_done: int
    progress_percent: float | None
    results: RestoreResults
    not_planned: dict[str, int]
    warnings: list[str]
    error: str | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(
        cls, row: dict[str, Any], *, items: bool = True, window: ItemWindow | None = None
    ) -> Restore:
        done, total = row["items_done"] or 0, row["items_total"] or 0
        percent = progress_percent(row["phase"], done, total)
        all_items = row["results"] or []
        selected, matching = (window or ItemWindow()).select(all_items) if items else ([], 0)
        spec = row["spec"] or {}
        return cls(
            id=row["id"],
            name=row["name"],
            backup_id=row["backup_id"],
            cluster=row["cluster"],
            phase=row["phase"],
            dry_run=bool(row["dry_run"]),
            spec=spec,
            items_total=total,
            items_done=done,
            progress_percent=percent,
            results=RestoreResults(
                created=row["created_count"] or 0,
                updated=row["updated_count"] or 0,
                unchanged=sum(1 for i in all_items if i.get("outcome") == "unchanged"),
                skipped=row["skipped_count"] or 0,
                failed=row["failed_count"] or 0,
                items=[RestoreItem(**i) for i in selected],
                items_matching=matching,
                modifiers=[ModifierReport(**r) for r in modifiers.modifier_report(spec, all_items)],
            ),
            not_planned=row["not_planned"] or {},
            warnings=row["warnings"] or [],
            error=row["error"],
            created_by=row["created_by"],
            created_at=as_utc(row["created_at"]),
            started_at=as_utc(row["started_at"]),
            finished_at=as_utc(row["finished_at"]),
        )


class RestorePage(Page[Restore]):
    """A page of restores, newest first."""
