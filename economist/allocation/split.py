"""Exact rounding of a split: parts rounded to 6 decimal places that add up to the rounded total exactly
(largest remainder: floor every part, then one millionth more to the parts with the largest remainders,
ties in the order the parts are given)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import TypeVar

from oco.money import EXACT, MONEY_PLACES, quantize_money

K = TypeVar("K", bound=Hashable)
ZERO = Decimal(0)


def exact_total(values: Sequence[Decimal]) -> Decimal:
    total = ZERO
    for value in values:
        total = EXACT.add(total, value)
    return total


def share(pool: Decimal, weight: Decimal, weights_total: Decimal) -> Decimal:
    """pool * weight / weights_total with 100 significant digits (no money is lost to the context)."""
    return EXACT.divide(EXACT.multiply(pool, weight), weights_total)


def apportion(parts: Sequence[tuple[K, Decimal]]) -> dict[K, Decimal]:
    """Each part rounded to 6 places so that the rounded parts sum to the exact parts' sum rounded to 6
    places (half-even); the order of `parts` breaks ties between equal remainders (first wins)."""
    target = quantize_money(exact_total([value for _, value in parts]))
    floors = [
        (key, value.quantize(MONEY_PLACES, rounding=ROUND_FLOOR, context=EXACT)) for key, value in parts
    ]
    rounded = dict(floors)
    missing = int((target - exact_total([f for _, f in floors])) / MONEY_PLACES)
    if not 0 <= missing <= len(parts):  # pragma: no cover - impossible by construction
        raise ArithmeticError(f"largest-remainder rounding is off by {missing} millionths")
    by_remainder = sorted(
        range(len(parts)), key=lambda i: -(EXACT.subtract(parts[i][1], floors[i][1]))
    )  # stable: equal remainders keep the given order
    for i in by_remainder[:missing]:
        key = parts[i][0]
        rounded[key] = rounded[key] + MONEY_PLACES
    return rounded
