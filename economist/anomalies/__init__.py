"""Spend anomalies: robust (median/MAD) detection on daily series with weekly seasonality, and root causes."""
