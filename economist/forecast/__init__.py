"""Spend forecasts: Holt-Winters additive with weekly seasonality, backtested against seasonal-naive."""
