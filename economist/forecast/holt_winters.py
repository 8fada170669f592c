"""Holt-Winters additive (level + trend + weekly season, ETS(A,A,A)) fitted by grid search on one-step
squared error, its prediction interval, a seasonal-naive baseline and a holdout backtest.

This is statistics, not bookkeeping: the model runs in float on amounts that come from exact Decimal sums,
and its outputs are rounded back to Decimal (6 places) by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
BETAS = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3)
GAMMAS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class HoltWinters:
    """A fitted model: smoothing parameters, final state, and the one-step residual sigma."""

    alpha: float
    beta: float
    gamma: float
    period: int
    level: float
    trend: float
    season: tuple[float, ...]  # indexed by (t % period) of the NEXT observation's position
    n: int
    sigma: float

    def forecast(self, horizon: int) -> list[float]:
        """Point forecasts for the next `horizon` steps."""
        return [
            self.level + h * self.trend + self.season[(self.n + h - 1) % self.period]
            for h in range(1, horizon + 1)
        ]

    def interval(self, horizon: int, coverage: float = 0.95) -> list[float]:
        """Half-widths of the prediction interval per step (Hyndman et al. 2008, class 1 variance)."""
        z = NormalDist().inv_cdf(0.5 + coverage / 2)
        widths, acc = [], 1.0
        for h in range(1, horizon + 1):
            if h > 1:
                j = h - 1
                c = self.alpha * (1 + j * self.beta) + (self.gamma if j % self.period == 0 else 0.0)
                acc += c * c
            widths.append(z * self.sigma * math.sqrt(acc))
        return widths


def _run(
    y: list[float], m: int, alpha: float, beta: float, gamma: float
) -> tuple[float, float, float, list[float]]:
    level = sum(y[:m]) / m
    trend = (sum(y[m : 2 * m]) - sum(y[:m])) / (m * m)
    season = [y[i] - level for i in range(m)]
    sse = 0.0
    for t, value in enumerate(y):
        s = season[t % m]
        error = value - (level + trend + s)
        if t >= m:
            sse += error * error
        new_level = alpha * (value - s) + (1 - alpha) * (level + trend)
        trend = beta * (new_level - level) + (1 - beta) * trend
        season[t % m] = gamma * (value - new_level) + (1 - gamma) * s
        level = new_level
    return sse, level, trend, season


def fit(y: list[float], period: int = 7) -> HoltWinters:
    """The grid's best parameters by one-step squared error (needs two full seasons)."""
    if len(y) < 2 * period:
        raise ValueError(f"Holt-Winters needs at least {2 * period} points")
    best: tuple[float, float, float, float] | None = None
    for alpha in ALPHAS:
        for beta in BETAS:
            for gamma in GAMMAS:
                sse = _run(y, period, alpha, beta, gamma)[0]
                if best is None or sse < best[0]:
                    best = (sse, alpha, beta, gamma)
    assert best is not None
    sse, alpha, beta, gamma = best
    _, level, trend, season = _run(y, period, alpha, beta, gamma)
    dof = max(1, len(y) - period - 3)
    return HoltWinters(alpha, beta, gamma, period, level, trend, tuple(season), len(y), math.sqrt(sse / dof))


def seasonal_naive(y: list[float], horizon: int, period: int = 7) -> list[float]:
    """Each future day repeats the same weekday of the last observed week."""
    if len(y) < period:
        mean = sum(y) / len(y) if y else 0.0
        return [mean] * horizon
    last = y[-period:]
    return [last[h % period] for h in range(horizon)]


def seasonal_naive_interval(y: list[float], horizon: int, coverage: float, period: int = 7) -> list[float]:
    """Half-widths of the seasonal-naive prediction interval: sigma of the seasonal differences times
    sqrt(completed seasons + 1) (Hyndman & Athanasopoulos, FPP3 5.5); zeros when there is too little data."""
    diffs = [y[t] - y[t - period] for t in range(period, len(y))]
    if len(diffs) < 2:
        return [0.0] * horizon
    sigma = math.sqrt(sum(d * d for d in diffs) / len(diffs))
    z = NormalDist().inv_cdf(0.5 + coverage / 2)
    return [z * sigma * math.sqrt((h - 1) // period + 1) for h in range(1, horizon + 1)]


@dataclass(frozen=True)
class Errors:
    mae: float
    mape: float | None  # percent; None when every actual is 0


def errors(actual: list[float], predicted: list[float]) -> Errors:
    """Mean absolute error and mean absolute percentage error (over non-zero actuals)."""
    diffs = [abs(a - p) for a, p in zip(actual, predicted, strict=True)]
    ratios = [abs(a - p) / abs(a) for a, p in zip(actual, predicted, strict=True) if a != 0]
    return Errors(sum(diffs) / len(diffs), 100 * sum(ratios) / len(ratios) if ratios else None)


def holdout_days(n: int, period: int = 7) -> int:
    """How many final days to hold out for the backtest (0: the series is too short to spare any)."""
    spare = n - 3 * period
    if spare < period:
        return 0
    return min(2 * period, spare)


@dataclass(frozen=True)
class Backtest:
    holdout: int
    model: Errors
    baseline: Errors


def backtest(y: list[float], period: int = 7) -> Backtest | None:
    """Fit on all but the holdout, forecast it, and compare with seasonal-naive on the same days."""
    h = holdout_days(len(y), period)
    if h == 0:
        return None
    train, test = y[:-h], y[-h:]
    model = fit(train, period).forecast(h)
    return Backtest(h, errors(test, model), errors(test, seasonal_naive(train, h, period)))
