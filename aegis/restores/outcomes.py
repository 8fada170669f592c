"""What a restore run reports: per-item results, counts by outcome, what was not planned and why.

Plain dataclasses; ``to_dict()`` gives JSON-ready values (ISO timestamps, enum values).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aegis.backups.phase import Phase
from aegis.kube.applier import ApplyOutcome


@dataclass
class RestoreItemResult:
    resource: str  # "deployments.apps"
    namespace: str | None  # target namespace
    name: str
    outcome: ApplyOutcome
    message: str = ""
    modified_by: list[str] = field(default_factory=list)  # modifiers that changed the object, in order
    modifier_error: dict[str, str] | None = None  # {"rule", "reason"}: the modifier that failed it


@dataclass
class RestoreOutcome:
    phase: Phase
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    backup_name: str = ""
    items_total: int = 0
    items_done: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in ApplyOutcome})
    results: list[RestoreItemResult] = field(default_factory=list)
    not_planned: dict[str, int] = field(default_factory=dict)  # skip reason -> objects (not applied)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return value
