"""Request and response models of /api/v1/rekeys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aegis.backups.naming import NAME_MAX, NAME_PATTERN
from aegis.backups.phase import Phase
from oco.pagination import Page
from oco.timeutil import as_utc


class RekeyCreate(BaseModel):
    """`{"dry_run": false, "include_unencrypted": false, "storage_location": null}`: re-encrypt every
    archive that is not sealed with the current key (with `include_unencrypted`, unencrypted archives too;
    with `storage_location`, only that location's)."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    include_unencrypted: bool = False
    storage_location: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=NAME_MAX)


class RekeyItem(BaseModel):
    """What happened to one archive (or, in a dry run, what would)."""

    backup_id: int
    backup_name: str
    storage_location: str
    #: the key id the old archive was sealed with (None: unencrypted, or named by no record)
    from_key_id: str | None
    encrypted: bool
    to_key_id: str | None
    outcome: Literal["rekeyed", "skipped", "failed", "would_rekey", "would_skip"]
    old_storage_key: str
    new_storage_key: str | None
    #: why it was skipped or failed; for a rekeyed archive, a note (an old object that could not be removed)
    reason: str | None


class RekeyRun(BaseModel):
    """A rekey run: its phase, progress (archives done of total) and one item per archive."""

    id: int
    phase: Phase
    dry_run: bool
    include_unencrypted: bool
    storage_location: str | None
    target_key_id: str | None
    items_total: int
    items_done: int
    counts: dict[str, int]
    items: list[RekeyItem]
    error: str | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RekeyRun:
        return cls(
            id=row["id"],
            phase=row["phase"],
            dry_run=bool(row["dry_run"]),
            include_unencrypted=bool(row["include_unencrypted"]),
            storage_location=row["storage_location"],
            target_key_id=row["target_key_id"],
            items_total=row["items_total"] or 0,
            items_done=row["items_done"] or 0,
            counts=row["counts"] or {},
            items=[RekeyItem(**i) for i in row["items"] or []],
            error=row["error"],
            created_by=row["created_by"],
            created_at=as_utc(row["created_at"]),
            started_at=as_utc(row["started_at"]),
            finished_at=as_utc(row["finished_at"]),
        )


class RekeyRunPage(Page[RekeyRun]):
    """A page of rekey runs, newest first."""
