"""Response models of the anomalies API (money as decimal strings with 6 places)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oco.money import money_str

Z_PLACES = Decimal("0.01")
SHARE = Decimal("0.0001")


class Contributor(BaseModel):
    """A value of a dimension whose own change explains part of the anomaly."""

    dimension: Literal["account", "region", "resource"]
    value: str | None
    expected: str
    actual: str
    delta: str
    share: str = Field(description="delta / the anomaly's deviation")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contributor:
        return cls(
            dimension=data["dimension"],
            value=data["value"],
            expected=money_str(data["expected"]) or "0",
            actual=money_str(data["actual"]) or "0",
            delta=money_str(data["delta"]) or "0",
            share=str(data["share"].quantize(SHARE)),
        )


class Anomaly(BaseModel):
    """An anomalous day of one series; the series' group-by values are extra fields (e.g. `service`)."""

    model_config = ConfigDict(extra="allow")

    date: date
    currency: str
    expected: str
    actual: str
    deviation: str
    z: str = Field(description="robust z-score: deviation / (1.4826 x MAD of recent residuals)")
    severity: Literal["low", "medium", "high"]
    root_cause: Contributor | None
    contributors: list[Contributor]


class AnomaliesResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    metric: str
    group_by: list[str]
    min_cost: str
    series_checked: int
    anomalies: list[Anomaly]


def anomaly_out(item: dict[str, Any], names: list[str]) -> Anomaly:
    return Anomaly(
        date=item["date"],
        currency=item["currency"],
        expected=money_str(item["expected"]) or "0",
        actual=money_str(item["actual"]) or "0",
        deviation=money_str(item["deviation"]) or "0",
        z=str(item["z"].quantize(Z_PLACES)),
        severity=item["severity"],
        root_cause=Contributor.from_dict(item["root_cause"]) if item["root_cause"] else None,
        contributors=[Contributor.from_dict(c) for c in item["contributors"]],
        **{name: item[name] for name in names},
    )
