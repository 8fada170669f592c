"""What a backup run reports (its outcome) and what a stored backup holds (its contents): plain dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aegis.backups.phase import Phase
from aegis.backups.progress import ItemError


@dataclass
class BackupOutcome:
    phase: Phase
    key: str
    started_at: datetime
    finished_at: datetime | None = None
    items_total: int = 0
    items_done: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # objects per resource ("deployments.apps")
    errors: list[ItemError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    size_bytes: int = 0
    sha256: str = ""
    encrypted: bool = False
    encryption_key_id: str | None = None  # the key id the archive's header names
    retain_until: datetime | None = None  # S3 Object Lock retention set on upload
    api_versions: list[str] = field(default_factory=list)
    server_version: str | None = None
    error: str | None = None  # why the run Failed as a whole


@dataclass(frozen=True)
class ContentItem:
    resource: str
    group: str
    kind: str
    namespace: str | None
    name: str


@dataclass
class BackupContents:
    items: list[ContentItem]
    metadata: dict[str, Any]
