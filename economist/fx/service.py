"""Currency conversion with dated rates: a rate `1 base = rate quote` applies from its date until the next
one; an amount in C on day d converts to T with the latest C->T rate dated on/before d, or the inverse of
the latest T->C rate (whichever is more recent). No rate on/before d is an error, never a guess."""

from __future__ import annotations

import bisect
import csv
import io
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from economist.fx import repository as repo
from oco.db import Database
from oco.errors import BadRequest, Conflict
from oco.money import parse_money

ONE = Decimal(1)
#: accepted rates (1 base = rate quote): wide enough for every real currency pair, narrow enough that the
#: rate and its inverse fit the NUMERIC(30, 12) column without rounding to 0 or overflowing
MIN_RATE = Decimal("1e-9")
MAX_RATE = Decimal("1e9")
RATE_PLACES = Decimal("1e-12")


class InvalidRate(BadRequest, ValueError):
    """A rate (or CSV line) that cannot be loaded; the message names where."""

    default_code = "invalid_rate"


class MissingRate(Conflict, LookupError):
    """No rate converts `currency` to `target` on or before `day` (409, `param` is currency)."""

    default_code = "missing_fx_rate"

    def __init__(self, currency: str, target: str, day: date) -> None:
        super().__init__(
            f"no {currency}->{target} exchange rate dated on or before {day.isoformat()}: load rates with "
            "POST /api/v1/fx-rates",
            param="currency",
        )
        self.currency = currency
        self.target = target
        self.day = day


def normalize_rate(raw: dict[str, Any], where: str = "", param: str | None = None) -> dict[str, Any]:
    """A validated rate row {rate_date, base, quote, rate} from API or CSV fields; InvalidRate names
    `where` in its message and `param` as the field."""
    prefix = f"{where}: " if where else ""
    try:
        day = raw["date"] if isinstance(raw["date"], date) else date.fromisoformat(str(raw["date"]).strip())
        base = str(raw["base"]).strip().upper()
        quote = str(raw["quote"]).strip().upper()
        rate = parse_money(raw["rate"])
    except KeyError as exc:
        raise InvalidRate(f"{prefix}missing field {exc.args[0]}", param=param) from None
    except ValueError as exc:
        raise InvalidRate(f"{prefix}{exc}", param=param) from None
    if not (base.isalpha() and quote.isalpha() and 3 <= len(base) <= 8 and 3 <= len(quote) <= 8):
        raise InvalidRate(f"{prefix}currencies must be ISO codes such as USD, EUR", param=param)
    if base == quote:
        raise InvalidRate(f"{prefix}base and quote are the same currency", param=param)
    if rate <= 0:
        raise InvalidRate(f"{prefix}rate must be positive", param=param)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InvalidRate(f"{prefix}rate must be between {MIN_RATE:f} and {MAX_RATE:f}", param=param)
    rate = rate.quantize(RATE_PLACES).normalize()  # what the NUMERIC(30, 12) column stores
    return {"rate_date": day, "base": base, "quote": quote, "rate": rate}


def parse_rates_csv(text: str) -> list[dict[str, Any]]:
    """Rates from CSV with the header date,base,quote,rate (any order, any case); errors name the line.
    Lines may end in LF, CRLF or a bare CR; a malformed line (a stray quote, a NUL) is a 400 naming it."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _read_rates(reader)
    except csv.Error as exc:
        raise InvalidRate(f"line {reader.line_num}: not valid CSV ({exc})") from None


def _read_rates(reader: csv.DictReader[str]) -> list[dict[str, Any]]:
    if not reader.fieldnames:
        raise InvalidRate("the CSV is empty")
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
    missing = {"date", "base", "quote", "rate"} - set(reader.fieldnames)
    if missing:
        raise InvalidRate(
            f"line 1: missing column(s) {', '.join(sorted(missing))} (need date,base,quote,rate)"
        )
    return [normalize_rate(row, f"line {reader.line_num}") for row in reader]


class Converter:
    """Converts amounts to one target currency with the rates loaded for it."""

    def __init__(self, target: str, rates: Iterable[dict[str, Any]]) -> None:
        self.target = target
        self._series: dict[str, tuple[list[date], list[Decimal]]] = {}
        by_currency: dict[str, dict[date, Decimal]] = {}
        inverse: dict[str, dict[date, Decimal]] = {}
        for r in rates:
            if Decimal(r["rate"]) <= 0:
                continue  # a zero rate stored before rates were range-checked converts nothing
            if r["quote"] == target:
                by_currency.setdefault(r["base"], {})[r["rate_date"]] = Decimal(r["rate"])
            else:
                inverse.setdefault(r["quote"], {})[r["rate_date"]] = ONE / Decimal(r["rate"])
        for currency in set(by_currency) | set(inverse):
            merged = {**inverse.get(currency, {}), **by_currency.get(currency, {})}  # direct wins a tie
            days = sorted(merged)
            self._series[currency] = (days, [merged[d] for d in days])

    def rate(self, currency: str, day: date) -> Decimal:
        """The multiplier from `currency` to the target on `day`."""
        if currency == self.target:
            return ONE
        days, values = self._series.get(currency, ([], []))
        index = bisect.bisect_right(days, day) - 1
        if index < 0:
            raise MissingRate(currency, self.target, day)
        return values[index]

    def convert(self, amount: Decimal, currency: str, day: date) -> Decimal:
        return amount * self.rate(currency, day)


class FxService:
    """Loads rates and builds converters."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def load(self, rates: list[dict[str, Any]], source: str | None = None) -> int:
        async with self.database.engine.begin() as conn:
            return await repo.upsert_rates(conn, rates, source)

    async def list(self, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        async with self.database.engine.connect() as conn:
            return await repo.list_rates(conn, **filters)

    async def converter(self, currencies: Iterable[str], target: str, until: date) -> Converter:
        async with self.database.engine.connect() as conn:
            rates = await repo.rates_between(conn, currencies, target, until)
        return Converter(target, rates)
