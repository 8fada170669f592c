"""Budgets: spend limits per scope and period, their status (spent, forecast) and threshold alerts."""
