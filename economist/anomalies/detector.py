"""Robust anomaly detection on one daily cost series (exact Decimal arithmetic, no model fitting).

For day t:
- seasonal baseline: the median of the same weekday over the previous 4 weeks (t-7, t-14, t-21, t-28),
  needing at least 2 of them; without them, the median of the previous 14 days;
- level correction: the median of the residuals (actual - baseline) over the previous 28 days, so a
  recent shift of the whole level is expected rather than flagged: expected = baseline + that median;
- scale: 1.4826 x the MAD of those residuals (the normal-consistent robust sigma), floored at 5% of
  |expected| so a perfectly flat series does not flag cent-sized wiggles, and at 10% of `min_cost` (at
  least one cent) so a spike from a flat zero baseline (MAD 0, expected 0) is judged too: any day reaching
  `min_cost` from nothing has |z| >= 10 (high);
- robust z = (actual - expected) / scale; |z| >= 3.5 is an anomaly: low below 5, medium below 8, high.
Days whose actual and expected are both under `min_cost` are never reported. Days before a series' first
cost are unknown, not zero, so a new service is judged once it has two weeks of history.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from statistics import median

SEASON = 7
WEEKS = 4
MIN_SEASONAL_POINTS = 2
RECENT_DAYS = 14
RESIDUAL_DAYS = 28
MIN_RESIDUALS = 7
MAD_TO_SIGMA = Decimal("1.4826")
SCALE_FLOOR = Decimal("0.05")
ABSOLUTE_FLOOR = Decimal("0.1")  # x min_cost: the scale's absolute floor
MIN_SCALE = Decimal("0.01")  # the absolute floor of the scale when min_cost is 0
Z_LOW, Z_MEDIUM, Z_HIGH = Decimal("3.5"), Decimal(5), Decimal(8)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Finding:
    """An anomalous day of a series (index into the series)."""

    index: int
    actual: Decimal
    expected: Decimal
    deviation: Decimal
    z: Decimal
    severity: str


def severity(z: Decimal) -> str | None:
    """low/medium/high by |robust z|, None below the threshold."""
    size = abs(z)
    if size >= Z_HIGH:
        return "high"
    if size >= Z_MEDIUM:
        return "medium"
    if size >= Z_LOW:
        return "low"
    return None


def seasonal_baseline(series: list[Decimal | None], t: int) -> Decimal | None:
    """The median of the same weekday over the previous weeks, else of the recent days; None if unknown."""
    same = [series[t - SEASON * k] for k in range(1, WEEKS + 1) if t - SEASON * k >= 0]
    known = [v for v in same if v is not None]
    if len(known) >= MIN_SEASONAL_POINTS:
        return median(known)
    recent = [v for v in series[max(0, t - RECENT_DAYS) : t] if v is not None]
    return median(recent) if len(recent) >= SEASON else None


def detect(series: list[Decimal | None], start: int, min_cost: Decimal) -> list[Finding]:
    """Anomalies among series[start:] (earlier days are history only). None = no data that day."""
    baselines = [seasonal_baseline(series, t) for t in range(len(series))]
    residuals: list[Decimal | None] = [
        None if (v is None or b is None) else v - b for v, b in zip(series, baselines, strict=True)
    ]
    findings: list[Finding] = []
    floor = max(min_cost * ABSOLUTE_FLOOR, MIN_SCALE)
    for t in range(max(start, 0), len(series)):
        actual, baseline = series[t], baselines[t]
        if actual is None or baseline is None:
            continue
        window = [r for r in residuals[max(0, t - RESIDUAL_DAYS) : t] if r is not None]
        if len(window) < MIN_RESIDUALS:
            continue
        center = median(window)
        mad = median([abs(r - center) for r in window])
        expected = baseline + center
        if max(actual, expected) < min_cost:
            continue
        scale = max(MAD_TO_SIGMA * mad, SCALE_FLOOR * abs(expected), floor)
        z = (actual - expected) / scale
        level = severity(z)
        if level is not None:
            findings.append(Finding(t, actual, expected, actual - expected, z, level))
    return findings


def child_baseline(values: dict[int, Decimal], t: int) -> Decimal:
    """A contributor's expected cost on day t: the median of its same-weekday costs (0 when absent)."""
    history = [values.get(t - SEASON * k, ZERO) for k in range(1, WEEKS + 1) if t - SEASON * k >= 0]
    return median(history) if history else ZERO
