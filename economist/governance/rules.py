"""What each policy type takes (its `params`) and what scope a policy covers, validated the same way for the
API and the YAML file: a refusal names the field (`params.amount`, `scope.tag`, ...)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from economist.ledger.tags import TAG_KEY_HELP, is_valid_tag_key
from oco.errors import InvalidRequest

POLICY_TYPES = (
    "budget_limit",
    "tag_compliance",
    "region_restriction",
    "service_allowlist",
    "service_denylist",
    "max_resource_cost",
)
SEVERITIES = ("low", "medium", "high", "critical")
MAX_AMOUNT = Decimal(10) ** 18


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _money(value: Decimal, *, positive: bool) -> Decimal:
    if not value.is_finite() or value < 0 or (positive and value == 0) or value >= MAX_AMOUNT:
        raise ValueError("must be a positive amount" if positive else "must be zero or a positive amount")
    return value


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError("must be a 3-letter currency code")
    return code


class BudgetLimitParams(_Params):
    """Spend in the scope over the current period must not exceed `amount`."""

    amount: Decimal
    currency: str = "USD"
    period: Literal["daily", "monthly", "quarterly", "yearly"] = "monthly"

    _amount = field_validator("amount")(lambda v: _money(v, positive=True))
    _currency = field_validator("currency")(_currency)


class TagComplianceParams(_Params):
    """Of the cost in the scope over the last `lookback_days`, at least `min_coverage_percent` must be on
    rows carrying every required tag with an allowed value."""

    required_tags: list[str] = Field(min_length=1)
    allowed_values: dict[str, list[str]] = {}
    min_coverage_percent: Decimal = Decimal(100)
    lookback_days: int = Field(default=30, ge=1, le=366)

    @field_validator("min_coverage_percent")
    @classmethod
    def _percent(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or not 0 < value <= 100:
            raise ValueError("must be above 0 and at most 100")
        return value

    @field_validator("required_tags")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        if any(not key.strip() for key in value):
            raise ValueError("tag keys must not be empty")
        if not all(is_valid_tag_key(key.strip()) for key in value):
            raise ValueError(TAG_KEY_HELP)
        return value

    @field_validator("allowed_values")
    @classmethod
    def _values(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if any(not key.strip() or not values for key, values in value.items()):
            raise ValueError("each tag needs a key and at least one allowed value")
        if not all(is_valid_tag_key(key.strip()) for key in value):
            raise ValueError(TAG_KEY_HELP)
        return value


class _ListParams(_Params):
    """Cost over the last `lookback_days` above `min_cost` on what the list refuses."""

    min_cost: Decimal = Decimal(0)
    lookback_days: int = Field(default=30, ge=1, le=366)

    _min = field_validator("min_cost")(lambda v: _money(v, positive=False))


class RegionRestrictionParams(_ListParams):
    """Resources with cost in a region outside `allowed_regions` (rows without a region are not judged)."""

    allowed_regions: list[str] = Field(min_length=1)


class ServiceListParams(_ListParams):
    """service_allowlist: services not in `services`; service_denylist: services in it."""

    services: list[str] = Field(min_length=1)


class MaxResourceCostParams(_Params):
    """Each resource's cost over the last `lookback_days` (a month by default) must not exceed `amount`."""

    amount: Decimal
    currency: str = "USD"
    lookback_days: int = Field(default=30, ge=1, le=366)

    _amount = field_validator("amount")(lambda v: _money(v, positive=True))
    _currency = field_validator("currency")(_currency)


PARAMS: dict[str, type[_Params]] = {
    "budget_limit": BudgetLimitParams,
    "tag_compliance": TagComplianceParams,
    "region_restriction": RegionRestrictionParams,
    "service_allowlist": ServiceListParams,
    "service_denylist": ServiceListParams,
    "max_resource_cost": MaxResourceCostParams,
}


class Scope(BaseModel):
    """The ledger rows a policy looks at: every given field must match (null = any)."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = None
    account: str | None = None
    service: str | None = None
    region: str | None = None
    tag: dict[str, str] | None = None

    @model_validator(mode="after")
    def _tags(self) -> Scope:
        if self.tag is not None and any(not k.strip() for k in self.tag):
            raise ValueError("tag keys must not be empty")
        if self.tag is not None and not all(is_valid_tag_key(k.strip()) for k in self.tag):
            raise ValueError(TAG_KEY_HELP)
        return self


def _refusal(exc: ValidationError, prefix: str) -> InvalidRequest:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidRequest(f"{where}: {message}", param=where)


def parse_params(policy_type: str, params: dict[str, Any] | None) -> BaseModel:
    """The type's params, validated; raises InvalidRequest naming `type` or the `params.<field>`."""
    model = PARAMS.get(policy_type)
    if model is None:
        raise InvalidRequest(
            f"type: unknown policy type {policy_type!r}; use {', '.join(POLICY_TYPES)}", param="type"
        )
    try:
        return model.model_validate(params or {})
    except ValidationError as exc:
        raise _refusal(exc, "params") from None


def parse_scope(scope: dict[str, Any] | None) -> Scope:
    try:
        return Scope.model_validate(scope or {})
    except ValidationError as exc:
        raise _refusal(exc, "scope") from None


def params_document(params: BaseModel) -> dict[str, Any]:
    """The params as stored (JSON: Decimals as strings)."""
    return params.model_dump(mode="json")
