"""A plan's compliance, computed (pure functions): which backups cover its scope, the achieved RPO and its
status against the target, and the newest drill's RTO against its target."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from oco.timeutil import as_utc

#: over this share of the RPO the plan is `at_risk`
AT_RISK_SHARE = 0.8
#: the value of oco_aegis_plan_status per status
STATUS_VALUES = {"ok": 0, "at_risk": 1, "breached": 2}


def covers(backup: dict[str, Any], plan: dict[str, Any]) -> bool:
    """Whether a backup holds the plan's whole scope: every namespace of the plan is selected by the
    backup's namespace patterns (and not excluded), all resources were included, and the backup's label
    selector is none or the plan's own."""
    spec = backup.get("spec") or {}
    included = spec.get("included_namespaces") or ["*"]
    excluded = spec.get("excluded_namespaces") or []
    for namespace in plan["included_namespaces"]:
        if not any(fnmatchcase(namespace, p) for p in included):
            return False
        if any(fnmatchcase(namespace, p) for p in excluded):
            return False
    if "*" not in (spec.get("included_resources") or ["*"]):
        return False
    selector = spec.get("label_selector") or None
    return selector is None or selector == (plan.get("label_selector") or None)


def newest_covering(backups: Iterable[dict[str, Any]], plan: dict[str, Any]) -> dict[str, Any] | None:
    """The first covering backup of ``backups`` (given newest first)."""
    return next((b for b in backups if covers(b, plan)), None)


def rpo_status(achieved_s: float | None, rpo_minutes: int) -> str:
    """`ok`, `at_risk` (over 80% of the RPO) or `breached` (over it; also when nothing covers the plan)."""
    if achieved_s is None:
        return "breached"
    target = rpo_minutes * 60
    if achieved_s > target:
        return "breached"
    if achieved_s > AT_RISK_SHARE * target:
        return "at_risk"
    return "ok"


def achieved_rpo_s(last_backup_end: datetime | None, now: datetime) -> float | None:
    end = as_utc(last_backup_end)
    return None if end is None else max(0.0, (now - end).total_seconds())


def rto_status(drill: dict[str, Any] | None, rto_minutes: int) -> str:
    if drill is None or drill.get("achieved_rto_s") is None:
        return "unknown"
    return "ok" if drill["achieved_rto_s"] <= rto_minutes * 60 else "breached"
