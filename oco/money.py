"""Decimal money helpers: parse without floats, quantize to 6 places, serialize as strings."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

MONEY_PLACES = Decimal("0.000001")
#: Arithmetic for totals: the default context keeps 28 significant digits, so adding 9e17 to an amount with
#: 12 decimals would round; 100 digits hold any sum of NUMERIC(38,18) amounts exactly.
EXACT = Context(prec=100, rounding=ROUND_HALF_EVEN)


def exact_sum(total: Decimal, amount: Decimal) -> Decimal:
    """total + amount without rounding (see EXACT)."""
    return EXACT.add(total, amount)


def parse_money(value: object) -> Decimal:
    """A Decimal from a str/int/Decimal (never a float: floats cannot hold cents exactly)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (bool, float)):
        raise ValueError("money must be given as a string, int or Decimal, not float")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        return result
    raise ValueError(f"unsupported money value of type {type(value).__name__}")


def quantize_money(value: Decimal) -> Decimal:
    """Round half-even to 6 decimal places (the storage scale of NUMERIC money columns)."""
    return value.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)


def money_str(value: Decimal | None) -> str | None:
    """The JSON form of an amount: a string with 6 decimals, e.g. "12.340000"."""
    return None if value is None else str(quantize_money(value))
