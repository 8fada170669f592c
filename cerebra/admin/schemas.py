"""Request and response models of the admin API: keys, teams, orgs, audit entries. Every write model
forbids unknown fields, so a misspelt field is an error that names it rather than a silent no-op."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from oco.auth import SCOPES, validate_scopes
from oco.money import money_str, parse_money
from oco.pagination import Page
from oco.timeutil import UtcDatetime, as_utc, utcnow


def _clean(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if any(ord(c) < 32 for c in value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean)]
MAX_MODELS = 1000


class KeyFields(BaseModel):
    """What a key may be given (all optional: PATCH changes only the fields it sends)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    scopes: list[str] | None = Field(None, description=f"any of {', '.join(SCOPES)}; admin grants all")
    team: Name | None = Field(
        None, description="bind the key to a team: its calls count there whatever it sends"
    )
    org: Name | None = Field(None, description="bind the key to an org")
    models: list[Name] | None = Field(
        None, max_length=MAX_MODELS, description="cerebra aliases it may call (null: any); others get 403"
    )
    expires_at: datetime | None = Field(None, description="when it stops working (null: never)")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else validate_scopes(value)

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2027-01-01T00:00:00Z")
        value = as_utc(value)
        assert value is not None
        if value <= utcnow():
            raise ValueError("must be in the future")
        return value


class KeyCreate(KeyFields):
    """POST /api/v1/keys."""

    name: Name
    scopes: list[str] = Field(description=f"any of {', '.join(SCOPES)}; admin grants all")


class KeyUpdate(KeyFields):
    """PATCH /api/v1/keys/{id}: only the fields sent change (null clears team, org, models, expiry)."""

    def changes(self) -> dict[str, Any]:
        values = self.model_dump(include=self.model_fields_set)
        for required in ("name", "scopes"):
            if required in values and values[required] is None:
                raise ValueError(f"{required} cannot be null")
        return values


KeyStatus = Literal["active", "revoked", "expired"]


class Key(BaseModel):
    """A key's metadata: never the key or its hash."""

    id: int
    name: str
    key_prefix: str = Field(description="the first characters of the key, to recognise it")
    scopes: list[str]
    team: str | None
    org: str | None
    models: list[str] | None
    status: KeyStatus
    created_at: UtcDatetime
    expires_at: UtcDatetime | None
    revoked_at: UtcDatetime | None
    last_used_at: UtcDatetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Key:
        expires_at = as_utc(row.get("expires_at"))
        status: KeyStatus = "active"
        if row.get("revoked_at") is not None:
            status = "revoked"
        elif expires_at is not None and expires_at <= utcnow():
            status = "expired"
        return cls(
            id=row["id"],
            name=row["name"],
            key_prefix=row["key_prefix"],
            scopes=list(row["scopes"]),
            team=row.get("team"),
            org=row.get("org"),
            models=row.get("models"),
            status=status,
            created_at=row["created_at"],
            expires_at=expires_at,
            revoked_at=row.get("revoked_at"),
            last_used_at=row.get("last_used_at"),
        )


class CreatedKey(Key):
    """The answer to POST /api/v1/keys: the only time the key itself is shown."""

    key: str = Field(description="the API key: store it now, it is kept only as a hash")


class KeyList(Page[Key]):
    """A page of keys, by id."""


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    org: Name | None = None
    description: str | None = Field(None, max_length=2000)


class Team(BaseModel):
    name: str
    org: str | None
    description: str | None
    created_at: UtcDatetime


class TeamList(Page[Team]):
    """A page of teams, by name."""


class OrgCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str | None = Field(None, max_length=2000)


class Org(BaseModel):
    name: str
    description: str | None
    created_at: UtcDatetime


class OrgList(Page[Org]):
    """A page of orgs, by name."""


class AuditEntry(BaseModel):
    id: int
    at: UtcDatetime
    service: str
    actor_key_id: int | None
    actor: str | None
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditList(Page[AuditEntry]):
    """A page of audit entries, newest first."""


RateScope = Literal["key", "team"]


class RateLimitCreate(BaseModel):
    """POST /api/v1/rate-limits: requests and/or tokens per minute for a key or a team, for every
    model (model null) or one alias."""

    model_config = ConfigDict(extra="forbid")

    scope: RateScope
    scope_id: Name = Field(description="the key's id for scope key, the team's name for scope team")
    model: Name | None = Field(None, description="one alias (null: every model)")
    rpm: int | None = Field(None, ge=1, le=100_000_000, description="requests per minute")
    tpm: int | None = Field(
        None, ge=1, le=2_000_000_000, description="tokens per minute", validate_default=True
    )

    @field_validator("tpm")
    @classmethod
    def _some_limit(cls, value: int | None, info: Any) -> int | None:
        if value is None and info.data.get("rpm") is None:
            raise ValueError("give rpm, tpm or both")
        return value

    @field_validator("scope_id")
    @classmethod
    def _key_id(cls, value: str, info: Any) -> str:
        if info.data.get("scope") == "key" and not (value.isdigit() and 0 < int(value) < 2**31):
            raise ValueError("must be the key's numeric id for scope key")
        return value


class RateLimit(BaseModel):
    id: int
    scope: RateScope
    scope_id: str
    model: str | None
    rpm: int | None
    tpm: int | None
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RateLimit:
        return cls(**{**row, "model": row["model"] or None})


class RateLimitList(Page[RateLimit]):
    """A page of rate limits, by id."""


BudgetScope = Literal["key", "team", "org", "agent"]
BudgetPeriod = Literal["daily", "weekly", "monthly", "total"]
MAX_BUDGET_USD = Decimal("1000000000")


def _limit(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError('must be a decimal string such as "1.00" (a float is not exact)')
    amount = parse_money(value)
    if amount <= 0 or amount >= MAX_BUDGET_USD:
        raise ValueError(f"must be above 0 and below {MAX_BUDGET_USD}")
    if amount.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValueError("may have at most 6 decimal places")
    return amount


def _thresholds(value: list[Decimal]) -> list[Decimal]:
    if len(value) > 20:
        raise ValueError("at most 20 thresholds")
    for threshold in value:
        if not Decimal(0) < threshold <= Decimal(10):
            raise ValueError(
                "each threshold is a fraction of the limit above 0 (1.0 = the whole budget), at most 10"
            )
    return sorted(set(value))


def _webhook(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.strip()


LimitUsd = Annotated[Decimal, BeforeValidator(_limit), Field(description='decimal string, e.g. "1.00"')]
Thresholds = Annotated[list[Decimal], AfterValidator(_thresholds)]
WebhookUrl = Annotated[Annotated[str, Field(max_length=2000)] | None, AfterValidator(_webhook)]


class BudgetCreate(BaseModel):
    """POST /api/v1/budgets."""

    model_config = ConfigDict(extra="forbid")

    scope: BudgetScope
    scope_id: Name = Field(description="the key's id for scope key; the team, org or agent name otherwise")
    model: Name | None = Field(None, description="one alias (null: every model)")
    period: BudgetPeriod
    limit_usd: LimitUsd
    thresholds: Thresholds = Field(default_factory=lambda: [Decimal("0.8"), Decimal("1.0")])
    webhook_url: WebhookUrl = None

    @field_validator("scope_id")
    @classmethod
    def _key_id(cls, value: str, info: Any) -> str:
        if info.data.get("scope") == "key" and not (value.isdigit() and 0 < int(value) < 2**31):
            raise ValueError("must be the key's numeric id for scope key")
        return value


class BudgetUpdate(BaseModel):
    """PATCH /api/v1/budgets/{id}: the limit, thresholds or webhook (only the fields sent)."""

    model_config = ConfigDict(extra="forbid")

    limit_usd: LimitUsd | None = None
    thresholds: Thresholds | None = None
    webhook_url: WebhookUrl = None

    def changes(self) -> dict[str, Any]:
        values = self.model_dump(include=self.model_fields_set)
        for required in ("limit_usd", "thresholds"):
            if required in values and values[required] is None:
                raise ValueError(f"{required} cannot be null")
        if "thresholds" in values:
            values["thresholds"] = [str(t) for t in values["thresholds"]]
        return values


class Budget(BaseModel):
    id: int
    scope: BudgetScope
    scope_id: str
    model: str | None
    period: BudgetPeriod
    limit_usd: str
    thresholds: list[str]
    webhook_url: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Budget:
        return cls(
            **{
                **row,
                "model": row["model"] or None,
                "limit_usd": money_str(Decimal(str(row["limit_usd"]))),
                "thresholds": [str(Decimal(str(t))) for t in row["thresholds"]],
            }
        )


class BudgetList(Page[Budget]):
    """A page of budgets, by id."""


class BudgetStatus(BaseModel):
    """A budget's current period (money as decimal strings)."""

    budget_id: int
    scope: BudgetScope
    scope_id: str
    model: str | None
    period: BudgetPeriod
    period_start: UtcDatetime
    period_end: UtcDatetime | None = Field(description="null for a total budget")
    limit_usd: str
    spent_usd: str
    reserved_usd: str = Field(description="held by calls in flight")
    remaining_usd: str

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BudgetStatus:
        money = ("limit_usd", "spent_usd", "reserved_usd", "remaining_usd")
        return cls(**{k: (money_str(v) if k in money else v) for k, v in state.items()})


class ScopeBudgetStatus(BudgetStatus):
    """GET /api/v1/budgets/status: the tightest budget of the scope (least remaining) at the top level,
    and every budget of the scope in `budgets`."""

    budgets: list[BudgetStatus]
