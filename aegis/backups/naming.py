"""Names of aegis objects (locations, schedules, backups, restores): DNS labels, so they are valid as
Kubernetes label values and storage key segments; generated names follow Velero's `<prefix>-<UTC time>`."""

from __future__ import annotations

import secrets
from datetime import datetime

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAME_MAX = 63
SCHEDULE_NAME_MAX = 40  # leaves room for "-YYYYmmddHHMMSS" in the names of its backups


def generated_name(prefix: str, at: datetime, *, suffix: bool = False) -> str:
    """``prefix-YYYYmmddHHMMSS`` (UTC), plus ``-xxxx`` when it must not collide with a previous one."""
    name = f"{prefix}-{at:%Y%m%d%H%M%S}"
    return f"{name}-{secrets.token_hex(2)}" if suffix else name
