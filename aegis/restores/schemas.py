"""Request and response models of /api/v1/restores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aegis.backups.naming import NAME_MAX, NAME_PATTERN
from aegis.backups.phase import Phase, progress_percent
from aegis.kube.selectors import LabelSelector, SelectorError
from oco.pagination import Page
from oco.params import RowIdField
from oco.timeutil import as_utc

Outcome = Literal["created", "updated", "unchanged", "skipped", "failed"]


class RestoreCreate(BaseModel):
    """Restore a backup, into its own cluster or another (`cluster`). Filters apply to the objects as
    backed up (source namespaces); `namespace_mapping` then renames namespaces. `existing_resource_policy`:
    `skip` leaves an existing object alone, `update` replaces it with the backed-up version when they
    differ and reports it `unchanged` (no write) when the live object already is that version. A dry run
    reports what would happen and changes nothing."""

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


class RestoreItem(BaseModel):
    resource: str  # "deployments.apps"
    namespace: str | None  # the target namespace
    name: str
    outcome: Outcome
    message: str


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
        return cls(
            id=row["id"],
            name=row["name"],
            backup_id=row["backup_id"],
            cluster=row["cluster"],
            phase=row["phase"],
            dry_run=bool(row["dry_run"]),
            spec=row["spec"] or {},
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
