"""S3 Object Lock retention for archives: the policy of a location (days, mode) and its validation.

With ``object_lock_days`` on an S3 location, every archive uploaded there is written with
``ObjectLockMode`` and ``ObjectLockRetainUntilDate`` = upload time + days, so S3 refuses to delete or
overwrite it before then (COMPLIANCE: nobody can; GOVERNANCE: only with the bypass permission, which
aegis never uses). The bucket must have been created with Object Lock enabled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aegis.storage.base import StorageConfigError

MODES = ("COMPLIANCE", "GOVERNANCE")
DEFAULT_MODE = "COMPLIANCE"
#: S3's own bound on a default retention period (100 years).
MAX_DAYS = 36500


@dataclass(frozen=True)
class ObjectLockPolicy:
    days: int
    mode: str = DEFAULT_MODE

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or not 1 <= self.days <= MAX_DAYS:
            raise StorageConfigError(f"object_lock_days must be a whole number of days from 1 to {MAX_DAYS}")
        if self.mode not in MODES:
            raise StorageConfigError(f"object_lock_mode must be one of {', '.join(MODES)}")

    def retain_until(self, now: datetime) -> datetime:
        """The lock's end for an object written at ``now`` (whole seconds, UTC)."""
        return (now + timedelta(days=self.days)).replace(microsecond=0)


def object_lock_from_spec(spec: Mapping[str, Any]) -> ObjectLockPolicy | None:
    """The policy of a location spec (``object_lock_days``, optional ``object_lock_mode``), or None."""
    days = spec.get("object_lock_days")
    mode = spec.get("object_lock_mode")
    if days is None:
        if mode is not None:
            raise StorageConfigError("object_lock_mode needs object_lock_days")
        return None
    return ObjectLockPolicy(days, mode or DEFAULT_MODE)
