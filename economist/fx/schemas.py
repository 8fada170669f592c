"""Request and response models of the fx-rates API."""

from __future__ import annotations

from datetime import date as Date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from oco.pagination import Page


def rate_text(value: Any) -> Any:
    """A JSON number as its shortest text ("1.0834", never float arithmetic); other values unchanged."""
    if isinstance(value, bool):
        raise ValueError("rate must be a decimal string or number")
    if isinstance(value, (int, float)):
        return str(value)
    return value


class RateIn(BaseModel):
    """1 `base` = `rate` `quote` from `date` on (until the pair's next rate)."""

    date: Date
    base: str = Field(min_length=3, max_length=8, examples=["EUR"])
    quote: str = Field(min_length=3, max_length=8, examples=["USD"])
    rate: Annotated[str, BeforeValidator(rate_text)] = Field(
        description='a decimal string such as "1.0834" (a JSON number is accepted and read as its text)',
        examples=["1.0834"],
    )


class RatesIn(BaseModel):
    rates: list[RateIn] = Field(min_length=1, max_length=100_000)
    source: str | None = Field(
        default=None, max_length=200, description="where the rates come from (e.g. ECB)"
    )


class RatesLoaded(BaseModel):
    loaded: int


class RateOut(BaseModel):
    date: Date
    base: str
    quote: str
    rate: str
    source: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RateOut:
        rate: Decimal = row["rate"]
        return cls(
            date=row["rate_date"],
            base=row["base"],
            quote=row["quote"],
            rate=format(rate.normalize(), "f"),
            source=row["source"],
        )


class RatePage(Page[RateOut]):
    """A page of exchange rates by pair and date."""
