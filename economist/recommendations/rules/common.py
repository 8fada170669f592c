"""What every rule shares: the Finding it returns, the rule settings, and the monthly run rate of a cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from oco.money import money_str
from oco.timeutil import as_utc

#: hours in a month for run rates (8760 / 12, the providers' convention)
HOURS_PER_MONTH = Decimal(730)
ZERO = Decimal(0)


@dataclass
class Finding:
    """One recommendation as a rule computed it (the refresh stores it keyed by type + resource_id)."""

    type: str
    resource_id: str
    saving: Decimal  # estimated monthly saving, ledger currency
    currency: str
    summary: str
    evidence: dict[str, Any]
    confidence: str
    effort: str
    risk: str
    provider: str | None = None
    billing_account_id: str | None = None
    account_id: str | None = None
    region: str | None = None
    service_name: str | None = None
    resource_name: str | None = None


@dataclass(frozen=True)
class RuleConfig:
    """The thresholds of the rules (from OCO_ECONOMIST_RECOMMENDATIONS_* settings)."""

    window_days: int = 30
    idle_max_activity: Decimal = Decimal(1)
    idle_cpu_percent: Decimal = Decimal(5)
    storage_max_requests: Decimal = ZERO
    target_utilization: Decimal = Decimal("0.6")
    nonprod_values: tuple[str, ...] = ("dev", "development", "test", "testing", "qa", "staging", "sandbox")
    spot_min_coverage: Decimal = Decimal("0.8")
    commitment_lookback_days: int = 30
    commitment_percentile: int = 10
    commitment_term_months: int = 12
    commitment_payment: str = "no_upfront"
    commitment_min_utilization: Decimal = Decimal("0.95")
    min_saving: Decimal = Decimal("0.01")
    extra: dict[str, Any] = field(default_factory=dict)


def observed_hours(first: Any, last: Any, start: datetime, end: datetime) -> Decimal:
    """Hours between a resource's first charge start and last charge end, clipped to [start, end) (>= 1)."""
    first_at = max(as_utc(parse_datetime(first)) or start, start)
    last_at = min(as_utc(parse_datetime(last)) or end, end)
    seconds = Decimal(int((last_at - first_at).total_seconds()))
    return max(seconds / 3600, Decimal(1))


def parse_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def monthly(cost: Decimal, hours: Decimal) -> Decimal:
    """The monthly run rate of `cost` spent over `hours`."""
    return cost * HOURS_PER_MONTH / hours


def dec(value: Any) -> Decimal:
    """A possibly-NULL aggregate as a Decimal."""
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


def money(value: Decimal) -> str:
    """Money in evidence: the API's 6-decimal string."""
    return money_str(value) or "0.000000"


def number(value: Decimal) -> str:
    """A non-money number in evidence, as exact text."""
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def located(finding: Finding, row: dict[str, Any]) -> Finding:
    """Fill a resource finding's location from its aggregate row."""
    finding.provider = row.get("provider")
    finding.billing_account_id = row.get("billing_account_id")
    finding.account_id = row.get("account_id")
    finding.region = row.get("region")
    finding.service_name = row.get("service_name")
    finding.resource_name = row.get("resource_name")
    return finding
