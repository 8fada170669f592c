"""Request and response models of the governance API (money as decimal strings)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from oco.money import money_str
from oco.pagination import Page

PolicyType = Literal[
    "budget_limit",
    "tag_compliance",
    "region_restriction",
    "service_allowlist",
    "service_denylist",
    "max_resource_cost",
]
Severity = Literal["low", "medium", "high", "critical"]


class PolicyIn(BaseModel):
    """A policy: its type's `params` (see the type list in the docs) and the `scope` of rows it judges."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: PolicyType
    description: str | None = Field(default=None, max_length=2000)
    scope: dict[str, Any] = Field(
        default_factory=dict, description="provider, account, service, region, tag: {key: value}; null = any"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = "medium"
    enabled: bool = True
    webhook_url: str | None = Field(default=None, max_length=2000, description="notified of new violations")
    webhook_format: Literal["json", "slack"] = "json"


class PolicyPatch(BaseModel):
    """The fields to change (the result is validated as a whole)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: PolicyType | None = None
    description: str | None = Field(default=None, max_length=2000)
    scope: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    severity: Severity | None = None
    enabled: bool | None = None
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_format: Literal["json", "slack"] | None = None


class Policy(BaseModel):
    id: int
    name: str
    type: str
    description: str | None
    scope: dict[str, Any]
    params: dict[str, Any]
    severity: str
    enabled: bool
    webhook_url: str | None
    webhook_format: str
    origin: Literal["api", "file"]
    created_at: datetime
    updated_at: datetime
    last_evaluated_at: datetime | None


class PolicyPage(Page[Policy]):
    pass


class Violation(BaseModel):
    id: int
    policy_id: int
    policy_name: str
    policy_type: str
    resource: str
    status: Literal["open", "acknowledged", "suppressed", "resolved"]
    severity: str
    evidence: dict[str, Any]
    cost_at_stake: Decimal
    currency: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    suppressed_reason: str | None
    suppressed_until: datetime | None
    suppressed_by: str | None

    @field_serializer("cost_at_stake")
    def _money(self, value: Decimal) -> str:
        return money_str(value) or "0"


class ViolationPage(Page[Violation]):
    pass


class ViolationPatch(BaseModel):
    """acknowledged; suppressed (with `reason` and a future `expires_at`); or open again."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["acknowledged", "suppressed", "open"]
    reason: str | None = Field(default=None, max_length=2000)
    expires_at: datetime | None = None


class Finding(BaseModel):
    resource: str
    cost_at_stake: Decimal
    currency: str | None
    evidence: dict[str, Any]

    @field_serializer("cost_at_stake")
    def _money(self, value: Decimal) -> str:
        return money_str(value) or "0"


class Evaluation(BaseModel):
    """What an evaluation found; `opened`/`resolved` list the resources whose violation opened or resolved
    (with dry_run: would open or resolve)."""

    policy_id: int
    policy_name: str
    dry_run: bool
    evaluated_at: datetime
    findings: list[Finding]
    opened: list[str]
    resolved: list[str]
