"""Request and response models of /api/v1/backups (the selection model is shared with schedules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aegis.backups.naming import NAME_MAX, NAME_PATTERN
from aegis.backups.phase import Phase, progress_percent
from aegis.kube.selectors import LabelSelector, SelectorError
from oco.pagination import Page
from oco.timeutil import as_utc


class BackupSelection(BaseModel):
    """What to back up, from which cluster, into which location, kept how long.

    Namespace lists take wildcards (`*`, `?`); resource lists take `configmaps`, `deployments.apps`,
    kinds (`Deployment`), short names or `*.example.com`. `include_cluster_resources`: `auto` (the
    selected namespaces plus what their objects need: CRDs of backed-up custom resources, PVs of
    backed-up claims; every cluster-scoped object too when the backup is of all namespaces, as in
    Velero), `true` (every cluster-scoped object) or `false`. `ttl_hours`: omitted means
    OCO_AEGIS_DEFAULT_TTL_HOURS (720), 0 means never expire."""

    model_config = ConfigDict(extra="forbid")

    cluster: str = Field(min_length=1, max_length=200)
    storage_location: str = Field(min_length=1, max_length=NAME_MAX)
    included_namespaces: list[str] = Field(default_factory=lambda: ["*"], max_length=500)
    excluded_namespaces: list[str] = Field(default_factory=list, max_length=500)
    included_resources: list[str] = Field(default_factory=lambda: ["*"], max_length=500)
    excluded_resources: list[str] = Field(default_factory=list, max_length=500)
    label_selector: str | None = Field(default=None, max_length=2000)
    include_cluster_resources: Literal["auto"] | bool = "auto"
    ttl_hours: int | None = Field(default=None, ge=0, le=24 * 365 * 10)

    @field_validator("label_selector")
    @classmethod
    def _selector_parses(cls, value: str | None) -> str | None:
        try:
            LabelSelector.parse(value)
        except SelectorError as exc:
            raise ValueError(str(exc)) from None
        return value

    def selection(self) -> dict[str, Any]:
        """The selection as stored in a record's/job's `spec` (BackupSpec field names)."""
        include = self.include_cluster_resources
        return {
            "included_namespaces": self.included_namespaces or ["*"],
            "excluded_namespaces": self.excluded_namespaces,
            "included_resources": self.included_resources or ["*"],
            "excluded_resources": self.excluded_resources,
            "label_selector": self.label_selector,
            "include_cluster_resources": include if isinstance(include, str) else str(include).lower(),
        }


class BackupCreate(BackupSelection):
    """Start a backup now. `name` (a DNS label) defaults to `backup-<UTC time>`."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=NAME_MAX)


class ItemError(BaseModel):
    item: str
    reason: str


class Backup(BaseModel):
    """A backup record: the run's phase and progress, its archive (key, size, SHA-256) and what failed."""

    id: int
    name: str
    schedule_id: int | None
    cluster: str
    storage_location: str
    storage_key: str
    phase: Phase
    spec: dict[str, Any]
    items_total: int
    items_done: int
    progress_percent: float | None
    counts: dict[str, int]
    errors: list[ItemError]
    warnings: list[str]
    error: str | None
    size_bytes: int
    sha256: str | None
    encrypted: bool
    #: the id of the key the archive is sealed with (None: unencrypted, or written before key ids)
    encryption_key_id: str | None = None
    #: S3 Object Lock: the archive cannot be deleted before this time
    retain_until: datetime | None = None
    server_version: str | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    deleted_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Backup:
        done, total = row["items_done"] or 0, row["items_total"] or 0
        percent = progress_percent(row["phase"], done, total)
        return cls(
            id=row["id"],
            name=row["name"],
            schedule_id=row["job_id"],
            cluster=row["cluster"],
            storage_location=row["storage_location"],
            storage_key=row["storage_key"],
            phase=row["phase"],
            spec=row["spec"] or {},
            items_total=total,
            items_done=done,
            progress_percent=percent,
            counts=row["counts"] or {},
            errors=[ItemError(**e) for e in row["errors"] or []],
            warnings=row["warnings"] or [],
            error=row["error"],
            size_bytes=row["size_bytes"] or 0,
            sha256=row["sha256"],
            encrypted=bool(row["encrypted"]),
            encryption_key_id=row.get("encryption_key_id"),
            retain_until=as_utc(row.get("retain_until")),
            server_version=row["server_version"],
            created_by=row["created_by"],
            created_at=as_utc(row["created_at"]),
            started_at=as_utc(row["started_at"]),
            finished_at=as_utc(row["finished_at"]),
            expires_at=as_utc(row["expires_at"]),
            deleted_at=as_utc(row["deleted_at"]),
        )


class BackupPage(Page[Backup]):
    """A page of backups, newest first."""


class ContentItem(BaseModel):
    resource: str  # plural, e.g. "deployments"
    group: str  # "" for the core group
    kind: str
    namespace: str | None
    name: str


class BackupContents(BaseModel):
    """What an archive holds, read from its index (nothing is restored)."""

    backup_id: int
    name: str
    total: int
    counts: dict[str, int]
    items: list[ContentItem]
