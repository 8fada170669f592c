"""Request and response models of /api/v1/dr: plans, their compliance status, drills and runbooks."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aegis.backups.naming import NAME_MAX, NAME_PATTERN
from aegis.kube.selectors import LabelSelector, SelectorError
from aegis.schedules.cron import parse_cron
from oco.pagination import Page
from oco.params import RowIdField
from oco.timeutil import as_utc

#: How far a namespace name may go so that `<ns>-drill-<short id>` stays a DNS label (63).
NAMESPACE_MAX = 63


class Readiness(BaseModel):
    """What "recovered" means: every Deployment, StatefulSet and DaemonSet of the restored namespaces
    reports its replicas available (`workloads_available`), within `timeout_s` seconds."""

    model_config = ConfigDict(extra="forbid")

    workloads_available: bool = True
    timeout_s: int = Field(default=600, ge=1, le=86_400)


def _check_selector(value: str | None) -> str | None:
    try:
        LabelSelector.parse(value)
    except SelectorError as exc:
        raise ValueError(str(exc)) from None
    return value


def _check_cron(value: str | None) -> str | None:
    return None if value is None else parse_cron(value)


def _check_namespaces(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    for value in values:
        if not re.fullmatch(NAME_PATTERN, value) or len(value) > NAMESPACE_MAX:
            raise ValueError(f"{value!r} is not a namespace name (a DNS label; no wildcards in a DR plan)")
    if len(set(values)) != len(values):
        raise ValueError("a namespace is listed twice")
    return values


class PlanFields(BaseModel):
    """The fields a plan's create and update share (validators included)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("label_selector", check_fields=False)
    @classmethod
    def _selector_parses(cls, value: str | None) -> str | None:
        return _check_selector(value)

    @field_validator("backup_schedule", "drill_schedule", check_fields=False)
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        return _check_cron(value)

    @field_validator("included_namespaces", check_fields=False)
    @classmethod
    def _namespaces(cls, value: list[str] | None) -> list[str] | None:
        return _check_namespaces(value)


class PlanCreate(PlanFields):
    """A DR plan: which namespaces of `source_cluster` (optionally narrowed by `label_selector`) must be
    recoverable on `target_cluster`, from backups in `storage_location`. The backups come from a schedule
    the plan creates and owns (`backup_schedule`, a cron) or from an existing one (`schedule_id`).
    `rpo_minutes`: the most data the plan may lose; `rto_minutes`: how long a recovery may take.
    `drill_schedule`: cron of automatic drills; `remediate`: start a backup at once when the RPO is
    breached."""

    name: str = Field(pattern=NAME_PATTERN, max_length=NAME_MAX)
    source_cluster: str = Field(min_length=1, max_length=200)
    target_cluster: str = Field(min_length=1, max_length=200)
    included_namespaces: list[str] = Field(min_length=1, max_length=100)
    label_selector: str | None = Field(default=None, max_length=2000)
    storage_location: str = Field(min_length=1, max_length=NAME_MAX)
    backup_schedule: str | None = Field(default=None, max_length=100, examples=["*/15 * * * *"])
    schedule_id: RowIdField | None = None
    rpo_minutes: int = Field(ge=1, le=525_600)
    rto_minutes: int = Field(ge=1, le=525_600)
    readiness: Readiness = Field(default_factory=Readiness)
    drill_schedule: str | None = Field(default=None, max_length=100, examples=["0 3 * * 0"])
    owner: str | None = Field(default=None, max_length=200)
    enabled: bool = True
    remediate: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> PlanCreate:
        if self.backup_schedule is not None and self.schedule_id is not None:
            raise ValueError("give backup_schedule or schedule_id, not both")
        if self.source_cluster == self.target_cluster:
            raise ValueError("target_cluster must differ from source_cluster")
        return self


class PlanUpdate(PlanFields):
    """Change a plan: only the fields sent change (`null` clears label_selector, drill_schedule, owner,
    backup_schedule and schedule_id)."""

    source_cluster: str | None = Field(default=None, min_length=1, max_length=200)
    target_cluster: str | None = Field(default=None, min_length=1, max_length=200)
    included_namespaces: list[str] | None = Field(default=None, min_length=1, max_length=100)
    label_selector: str | None = Field(default=None, max_length=2000)
    storage_location: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    backup_schedule: str | None = Field(default=None, max_length=100)
    schedule_id: RowIdField | None = None
    rpo_minutes: int | None = Field(default=None, ge=1, le=525_600)
    rto_minutes: int | None = Field(default=None, ge=1, le=525_600)
    readiness: Readiness | None = None
    drill_schedule: str | None = Field(default=None, max_length=100)
    owner: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None
    remediate: bool | None = None

    def changes(self) -> dict[str, Any]:
        nullable = {"label_selector", "drill_schedule", "owner", "backup_schedule", "schedule_id"}
        data: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if value is None and name not in nullable:
                continue
            data[name] = value.model_dump() if isinstance(value, BaseModel) else value
        if data.get("backup_schedule") is not None and data.get("schedule_id") is not None:
            raise ValueError("give backup_schedule or schedule_id, not both")
        return data


class Plan(BaseModel):
    id: int
    name: str
    source_cluster: str
    target_cluster: str
    included_namespaces: list[str]
    label_selector: str | None
    storage_location: str
    backup_schedule: str | None = Field(description="the cron of the schedule the plan owns")
    schedule_id: int | None
    rpo_minutes: int
    rto_minutes: int
    readiness: Readiness
    drill_schedule: str | None
    next_drill_at: datetime | None
    remediate: bool
    active_cluster: str = Field(description="where the workloads serve now (target_cluster after a failover)")
    owner: str | None
    enabled: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Plan:
        return cls(
            id=row["id"],
            name=row["name"],
            source_cluster=row["source_cluster"],
            target_cluster=row["target_cluster"],
            included_namespaces=list(row["included_namespaces"] or []),
            label_selector=row["label_selector"],
            storage_location=row["storage_location"],
            backup_schedule=row.get("schedule_cron") if row["owns_schedule"] else None,
            schedule_id=row["schedule_id"],
            rpo_minutes=row["rpo_minutes"],
            rto_minutes=row["rto_minutes"],
            readiness=Readiness(**(row["readiness"] or {})),
            drill_schedule=row["drill_schedule"],
            next_drill_at=as_utc(row["next_drill_at"]),
            remediate=bool(row["remediate"]),
            active_cluster=row["active_cluster"],
            owner=row["owner"],
            enabled=bool(row["enabled"]),
            created_by=row["created_by"],
            created_at=as_utc(row["created_at"]),
            updated_at=as_utc(row["updated_at"]),
        )


class PlanPage(Page[Plan]):
    """A page of plans by name."""


class LastDrill(BaseModel):
    id: int
    phase: str
    passed: bool | None
    achieved_rto_s: float | None
    achieved_rpo_s: float | None
    finished_at: datetime | None
    failed_checks: list[dict[str, Any]]


class Remediation(BaseModel):
    """A backup started because the RPO was breached (`started`: by this very read)."""

    backup_id: int | None
    started: bool
    error: str | None = None


class PlanStatus(BaseModel):
    """Compliance now: `rpo_status` is `ok`, `at_risk` (over 80% of the RPO) or `breached` (over it, or no
    Completed backup covers the plan's scope); `rto_status` compares the newest finished drill's achieved
    RTO with the target (`unknown` before the first drill)."""

    plan_id: int
    plan: str
    checked_at: datetime
    rpo_status: Literal["ok", "at_risk", "breached"]
    rpo_target_s: int
    achieved_rpo_s: float | None
    last_backup_at: datetime | None
    last_backup_id: int | None
    rto_status: Literal["ok", "breached", "unknown"]
    rto_target_s: int
    last_drill: LastDrill | None
    remediation: Remediation | None


class DrillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: bool = Field(default=False, description="leave the drill namespaces in the target cluster")


class RunbookRequest(BaseModel):
    """Options of a failover/failback: `final_backup` of the cluster being left when it answers,
    `scale_down` its workloads to zero (avoids split brain; the counts are recorded), `dry_run` lists the
    steps and the objects each would touch and changes nothing."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    final_backup: bool = True
    scale_down: bool = True


class Step(BaseModel):
    name: str
    status: Literal["pending", "running", "succeeded", "failed", "skipped", "planned"]
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    detail: str | None = None
    objects: list[str] = Field(default_factory=list)


class Run(BaseModel):
    """A drill, failover or failback: its steps with timings, the checks that failed, and what to do next
    when it stopped."""

    id: int
    plan_id: int
    kind: Literal["drill", "failover", "failback"]
    phase: str
    dry_run: bool
    options: dict[str, Any]
    short_id: str
    source_cluster: str
    target_cluster: str
    backup_id: int | None
    restore_id: int | None
    namespaces: dict[str, str]
    steps: list[Step]
    failed_checks: list[dict[str, Any]]
    replicas: dict[str, Any]
    progress: dict[str, Any] | None
    achieved_rto_s: float | None
    achieved_rpo_s: float | None
    passed: bool | None
    next_action: str | None
    error: str | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        return cls(
            **{k: row[k] for k in cls.model_fields if k not in _TIMES and k in row},
            **{k: as_utc(row[k]) for k in _TIMES},
        )


_TIMES = ("created_at", "started_at", "finished_at")


class RunPage(Page[Run]):
    """A page of runs, newest first."""
