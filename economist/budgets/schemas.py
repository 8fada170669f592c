"""Request and response models of /api/v1/budgets (money as decimal strings; errors name the field)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from economist.budgets.periods import Period
from economist.budgets.service import BudgetState, ratio
from economist.costs.params import MAX_AMOUNT, MetricName
from economist.ledger.tags import check_tag_key
from oco.money import money_str, parse_money
from oco.pagination import Page
from oco.timeutil import as_utc

Basis = Literal["actual", "forecast"]
ScopeValue = Annotated[str, Field(min_length=1, max_length=200)]
#: a scope's tag key: the one rule of economist.ledger.tags (TAG_KEY_RULE)
TagKey = Annotated[str, AfterValidator(check_tag_key)]
MAX_THRESHOLDS = 20
MAX_TAGS = 20


def check_amount(value: Any) -> Decimal:
    """A positive amount with at most 6 decimals, given as a string (or an int; never a float)."""
    amount = parse_money(value)
    if amount <= 0:
        raise ValueError('must be a positive amount such as "1000.00"')
    if amount >= MAX_AMOUNT:
        raise ValueError(f"must be below {MAX_AMOUNT:f}")
    if amount.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValueError("may have at most 6 decimal places")
    return amount


def check_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def check_currency(value: str) -> str:
    code = value.strip()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError("must be a 3-letter ISO 4217 code such as USD")
    return code.upper()


def check_webhook_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.strip()


class BudgetScope(BaseModel):
    """What a budget counts: the ledger rows matching every given field (null: any). `tag` keys fold like
    ingested tags (CostCenter = cost_center)."""

    model_config = ConfigDict(extra="forbid")

    provider: ScopeValue | None = None
    account: ScopeValue | None = None
    service: ScopeValue | None = None
    tag: dict[TagKey, ScopeValue] | None = Field(default=None, max_length=MAX_TAGS)


class Threshold(BaseModel):
    """Alert when spend (`on`: actual, to date) or the forecast at period end (`forecast`) reaches
    `percent` of the amount; each threshold alerts once per period."""

    model_config = ConfigDict(extra="forbid")

    percent: int = Field(ge=1, le=1000)
    on: Basis = "actual"


def _unique_thresholds(value: list[Threshold] | None) -> list[Threshold] | None:
    if value is not None and len({(t.percent, t.on) for t in value}) != len(value):
        raise ValueError("a threshold (percent, on) is listed twice")
    return value


class BudgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["team-search"])
    scope: BudgetScope = Field(default_factory=BudgetScope)
    period: Period
    amount: Decimal = Field(examples=["1000.00"])
    currency: str = Field(examples=["USD"])
    metric: MetricName = "billed"
    thresholds: list[Threshold] = Field(
        default_factory=lambda: [Threshold(percent=100, on="actual")], max_length=MAX_THRESHOLDS
    )
    webhook_url: str | None = Field(default=None, max_length=2000)

    _amount = field_validator("amount", mode="before")(check_amount)
    _currency = field_validator("currency")(check_currency)
    _url = field_validator("webhook_url")(check_webhook_url)
    _thresholds = field_validator("thresholds")(_unique_thresholds)

    _name = field_validator("name")(check_name)


class BudgetUpdate(BaseModel):
    """Change a budget: only the fields sent change (`webhook_url: null` removes the webhook)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    scope: BudgetScope | None = None
    period: Period | None = None
    amount: Decimal | None = None
    currency: str | None = None
    metric: MetricName | None = None
    thresholds: list[Threshold] | None = Field(default=None, max_length=MAX_THRESHOLDS)
    webhook_url: str | None = Field(default=None, max_length=2000)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Decimal | None:
        return None if value is None else check_amount(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)

    _url = field_validator("webhook_url")(check_webhook_url)
    _thresholds = field_validator("thresholds")(_unique_thresholds)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent as column values (null only where it means something)."""
        data: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if value is None and name != "webhook_url":
                continue
            if name == "scope":
                value = value.model_dump()
            elif name == "thresholds":
                value = [t.model_dump() for t in value]
            data[name] = value
        return data


class Budget(BaseModel):
    id: int
    name: str
    scope: BudgetScope
    period: Period
    amount: str
    currency: str
    metric: str
    thresholds: list[Threshold]
    webhook_url: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Budget:
        return cls(
            id=row["id"],
            name=row["name"],
            scope=BudgetScope(**(row["scope"] or {})),
            period=row["period"],
            amount=money_str(row["amount"]) or "0",
            currency=row["currency"],
            metric=row["metric"],
            thresholds=[Threshold(**t) for t in row["thresholds"] or []],
            webhook_url=row["webhook_url"],
            created_by=row["created_by"],
            created_at=as_utc(row["created_at"]),
            updated_at=as_utc(row["updated_at"]),
        )


class BudgetList(Page[Budget]):
    """A page of budgets by name."""


class ThresholdState(BaseModel):
    """One threshold this period: the amount it stands for, whether it is reached now, and when it alerted
    (null: not yet this period)."""

    percent: int
    on: Basis
    threshold_amount: str
    crossed: bool
    alerted_at: datetime | None


class BudgetStatus(BaseModel):
    """A budget's period: spent to date (`as_of` included), the forecast at period end (never below spent),
    remaining (amount - spent, negative when over), utilization (spent / amount) and the thresholds."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    name: str
    period: Period
    period_start: date
    period_end: date = Field(description="the day after the period's last day (exclusive)")
    as_of: date
    currency: str
    metric: str
    amount: str
    spent: str
    forecast: str
    forecast_method: str
    remaining: str
    utilization: str
    forecast_utilization: str
    thresholds: list[ThresholdState]
    newly_crossed: list[ThresholdState] = Field(
        description="thresholds that alerted for the first time in this call"
    )


def _threshold_state(state: BudgetState, threshold: dict[str, Any]) -> ThresholdState:
    return ThresholdState(
        percent=threshold["percent"],
        on=threshold["on"],
        threshold_amount=money_str(state.amount * threshold["percent"] / 100) or "0",
        crossed=state.reached(threshold),
        alerted_at=state.alerts.get((threshold["percent"], threshold["on"])),
    )


def status_out(state: BudgetState) -> BudgetStatus:
    """The status response of a measured budget period."""
    budget = state.budget
    new = {(c.percent, c.on) for c in state.newly_crossed}
    thresholds = [_threshold_state(state, t) for t in budget["thresholds"] or []]
    return BudgetStatus(
        id=budget["id"],
        name=budget["name"],
        period=budget["period"],
        period_start=state.period_start,
        period_end=state.period_end,
        as_of=state.as_of,
        currency=budget["currency"],
        metric=budget["metric"],
        amount=money_str(state.amount) or "0",
        spent=money_str(state.spent) or "0",
        forecast=money_str(state.forecast) or "0",
        forecast_method=state.forecast_method,
        remaining=money_str(state.amount - state.spent) or "0",
        utilization=str(ratio(state.spent, state.amount)),
        forecast_utilization=str(ratio(state.forecast, state.amount)),
        thresholds=thresholds,
        newly_crossed=[t for t in thresholds if (t.percent, t.on) in new],
    )
