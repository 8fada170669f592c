"""Request and response models of /api/v1/schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aegis.backups.naming import NAME_PATTERN, SCHEDULE_NAME_MAX
from aegis.backups.schemas import BackupSelection
from aegis.kube.selectors import LabelSelector, SelectorError
from aegis.schedules.cron import parse_cron, parse_timezone
from oco.pagination import Page
from oco.timeutil import as_utc


def _check_cron(value: str | None) -> str | None:
    return None if value is None else parse_cron(value)


def _check_timezone(value: str | None) -> str | None:
    if value is not None:
        parse_timezone(value)
    return value


class ScheduleCreate(BackupSelection):
    """A cron schedule of backups (`cron`: 5 fields, evaluated in `timezone`). Retention: `keep_last` keeps
    the newest N successful backups of the schedule; `ttl_hours` expires each backup (omitted: the
    service default, 0: never)."""

    name: str = Field(pattern=NAME_PATTERN, max_length=SCHEDULE_NAME_MAX)
    cron: str = Field(max_length=100, examples=["0 2 * * *"])
    timezone: str = Field(default="UTC", max_length=64)
    keep_last: int | None = Field(default=None, ge=1, le=10_000)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        return _check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str | None) -> str | None:
        return _check_timezone(value)


class ScheduleUpdate(BaseModel):
    """Change a schedule: only the fields sent change (`null` clears keep_last/ttl_hours/label_selector)."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    keep_last: int | None = Field(default=None, ge=1, le=10_000)
    ttl_hours: int | None = Field(default=None, ge=0, le=24 * 365 * 10)
    enabled: bool | None = None
    cluster: str | None = Field(default=None, min_length=1, max_length=200)
    storage_location: str | None = Field(default=None, min_length=1, max_length=63)
    included_namespaces: list[str] | None = Field(default=None, max_length=500)
    excluded_namespaces: list[str] | None = Field(default=None, max_length=500)
    included_resources: list[str] | None = Field(default=None, max_length=500)
    excluded_resources: list[str] | None = Field(default=None, max_length=500)
    label_selector: str | None = Field(default=None, max_length=2000)
    include_cluster_resources: Literal["auto"] | bool | None = None

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        return _check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    @field_validator("label_selector")
    @classmethod
    def _selector_parses(cls, value: str | None) -> str | None:
        try:
            LabelSelector.parse(value)
        except SelectorError as exc:
            raise ValueError(str(exc)) from None
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent (an explicit null only where null means something)."""
        nullable = {"keep_last", "ttl_hours", "label_selector"}
        data = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if value is None and name not in nullable:
                continue
            if name == "include_cluster_resources" and isinstance(value, bool):
                value = str(value).lower()
            data[name] = value
        return data


class Schedule(BaseModel):
    """A schedule with its state: next and last runs, last success, runs missed while the scheduler was
    down (or while the previous run was still going)."""

    id: int
    name: str
    cluster: str
    storage_location: str
    spec: dict[str, Any]
    cron: str
    timezone: str
    keep_last: int | None
    ttl_hours: int | None
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_backup_id: int | None
    missed_runs: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Schedule:
        return cls(
            id=row["id"],
            name=row["name"],
            cluster=row["cluster"],
            storage_location=row["storage_location"],
            spec=row["spec"] or {},
            cron=row["cron"] or "",
            timezone=row["timezone"],
            keep_last=row["keep_last"],
            ttl_hours=row["ttl_hours"],
            enabled=bool(row["enabled"]),
            next_run_at=as_utc(row["next_run_at"]),
            last_run_at=as_utc(row["last_run_at"]),
            last_success_at=as_utc(row["last_success_at"]),
            last_backup_id=row["last_backup_id"],
            missed_runs=row["missed_runs"] or 0,
            created_by=row["created_by"],
            created_at=as_utc(row["created_at"]),
            updated_at=as_utc(row["updated_at"]),
        )


class ScheduleList(Page[Schedule]):
    """A page of schedules by name."""
